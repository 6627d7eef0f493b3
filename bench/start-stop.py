#!/usr/bin/env python3
"""Start-up and Ctrl+C of the whole app, timed as a person meets them.

    python3 bench/start-stop.py [rounds] [--build] [-- AppHost arguments]   e.g.  python3 bench/start-stop.py 5 -- --ChatApi:Replicas=3

Each round runs `dotnet run --project AppHost --no-build` (build the solution first: `dotnet build`), or with
--build `dotnet run --project AppHost` (its build check included, as a person types it), times
  - page:  until the chat page (http://localhost:5190) answers with its models loaded from ChatApi,
  - reply: until a chat message sent to ChatApi (http://localhost:5180) is answered through the emulator (the
           emulator takes about 2 s to write a reply, as a model would: that part is not start-up),
then sends Ctrl+C (SIGINT to the process group, as a terminal does) and times
  - prompt: until `dotnet run` has exited (the terminal is yours again),
  - all:    until no process of the app is left (the orchestrator, the services, the dashboard).
It prints each round and the median. Linux and macOS (it needs process groups). Nothing else may hold those ports.
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = "http://localhost:5190/"
CHAT = "http://localhost:5180/api/chat"
# Every process of the app: the AppHost, Aspire's orchestrator (dcp) and the services, all run from the build output.
APP_PROCESSES = "tools/dcp|/bin/Debug/net10.0/(AppHost|ChatApi|WebFrontend|OpenAIEmulator)"


def answers(request, refused_text=None):
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status == 200 and (refused_text is None or refused_text not in response.read().decode())
    except OSError:
        return False


def until(condition, start, limit=120):
    while time.monotonic() - start < limit:
        if condition():
            return time.monotonic() - start
        time.sleep(0.05)
    raise TimeoutError(f"not within {limit} s")


def app_alive():
    return subprocess.run(["pgrep", "-f", APP_PROCESSES], capture_output=True).returncode == 0


def chat_request():
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}).encode()
    return urllib.request.Request(CHAT, data=body, headers={"Content-Type": "application/json"}, method="POST")


def one_round(apphost_args, build):
    if app_alive():
        raise SystemExit("An earlier run of the app is still alive; stop it first.")
    start = time.monotonic()
    # A terminal's Ctrl+C reaches the whole foreground process group; a fresh group with SIGINT at its default stands in.
    app = subprocess.Popen(
        ["dotnet", "run", "--project", "AppHost", *([] if build else ["--no-build"]), *apphost_args],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: (os.setsid(), signal.signal(signal.SIGINT, signal.SIG_DFL)))
    try:
        page = until(lambda: answers(PAGE, "ChatApi is not reachable"), start)
        reply = until(lambda: answers(chat_request()), start)
    except TimeoutError:
        os.killpg(app.pid, signal.SIGTERM)
        raise
    time.sleep(1)  # the app idle, as when a person reaches for Ctrl+C
    stop = time.monotonic()
    os.killpg(app.pid, signal.SIGINT)
    prompt = until(lambda: app.poll() is not None, stop, 60)
    everything = until(lambda: not app_alive(), stop, 60)
    return page, reply, prompt, everything


def main():
    args = sys.argv[1:]
    apphost_args = args[args.index("--") + 1:] if "--" in args else []
    options = args[:args.index("--")] if "--" in args else args
    rounds = next((int(a) for a in options if a.isdigit()), 3)
    build = "--build" in options
    names = ["page", "reply", "prompt", "all"]
    results = []
    for i in range(rounds):
        row = one_round(apphost_args, build)
        results.append(row)
        print(f"round {i + 1}: " + ", ".join(f"{n} {v:.1f} s" for n, v in zip(names, row)), flush=True)
    medians = [statistics.median(column) for column in zip(*results)]
    print("median:  start to page {:.1f} s, to first reply {:.1f} s; Ctrl+C to prompt {:.1f} s, to everything stopped {:.1f} s"
          .format(*medians))


if __name__ == "__main__":
    main()
