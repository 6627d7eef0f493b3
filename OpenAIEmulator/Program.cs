using AspireRetry.OpenAIEmulator;

EmulatorApp.Create(args).Run();
