// The chat wire contract (ChatRequest, the stream's events, ChatReply, ...) lives in Contracts, which
// WebFrontend reads too; every ChatApi file sees it as if it were its own.
global using AspireRetry.Contracts;
