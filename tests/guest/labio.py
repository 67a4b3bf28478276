#!/usr/bin/python3
"""Talk to a lab guest from the host: its QMP monitor or its serial agent.

  labio.py qmp SOCK [--timeout S] JSON [JSON...]
      Connects to a QMP UNIX socket, negotiates capabilities, sends each JSON
      command and prints each reply on one line (events are skipped).
      Exit 0 when every reply is a "return", 1 when one is an "error",
      124 on timeout, 2 when the socket cannot be reached.
  labio.py qmp-wait SOCK EVENT [--timeout S]
      Waits for one QMP event named EVENT and prints it (exit 124 on timeout).
  labio.py agent SOCK [--timeout S] COMMAND...
      Sends "TAG COMMAND" to the guest agent on a serial UNIX socket, prints
      the reply lines between "@@BEGIN TAG" and "@@END TAG RC", and exits RC
      (124 on timeout, 2 when the socket cannot be reached).

A QEMU monitor serves one client at a time, so every call connects, talks
and disconnects. Standard library only (Debian's python3).
"""
import json
import os
import socket
import sys
import time


def connect(path, deadline):
    # QEMU creates its sockets at start-up: retry briefly, not for the whole
    # command timeout, so that a dead guest is reported quickly.
    deadline = min(deadline, time.monotonic() + 5)
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            return s
        except OSError as e:
            s.close()
            if time.monotonic() >= deadline:
                print(f"labio: cannot connect to {path}: {e}", file=sys.stderr)
                sys.exit(2)
            time.sleep(0.1)


class Lines:
    """Reads lines from a socket until a deadline."""

    def __init__(self, sock, deadline):
        self.sock, self.deadline, self.buf = sock, deadline, b""

    def next(self):
        while b"\n" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError
            if not data:
                raise EOFError
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").rstrip("\r")


def take_timeout(args, default):
    if "--timeout" in args:
        i = args.index("--timeout")
        t = float(args[i + 1])
        del args[i:i + 2]
        return t
    return default


def qmp_session(path, deadline):
    s = connect(path, deadline)
    rd = Lines(s, deadline)
    json.loads(rd.next())  # greeting
    s.sendall(b'{"execute":"qmp_capabilities"}\n')
    while "return" not in json.loads(rd.next()):
        pass
    return s, rd


def cmd_qmp(args):
    path = args.pop(0)
    deadline = time.monotonic() + take_timeout(args, 30)
    rc = 0
    try:
        s, rd = qmp_session(path, deadline)
        for cmd in args:
            json.loads(cmd)  # refuse to send malformed JSON
            s.sendall(cmd.encode() + b"\n")
            while True:
                msg = json.loads(rd.next())
                if "return" in msg or "error" in msg:
                    break
            print(json.dumps(msg))
            if "error" in msg:
                rc = 1
    except (TimeoutError, EOFError) as e:
        print(f"labio: qmp {path}: {type(e).__name__}", file=sys.stderr)
        return 124
    return rc


def cmd_qmp_wait(args):
    path, event = args.pop(0), args.pop(0)
    deadline = time.monotonic() + take_timeout(args, 30)
    try:
        s, rd = qmp_session(path, deadline)
        while True:
            msg = json.loads(rd.next())
            if msg.get("event") == event:
                print(json.dumps(msg))
                return 0
    except (TimeoutError, EOFError) as e:
        print(f"labio: waiting for {event}: {type(e).__name__}", file=sys.stderr)
        return 124


def cmd_agent(args):
    path = args.pop(0)
    deadline = time.monotonic() + take_timeout(args, 60)
    command = " ".join(args).replace("\n", " ")
    tag = os.urandom(6).hex()
    s = connect(path, deadline)
    rd = Lines(s, deadline)
    s.sendall(f"{tag} {command}\n".encode())
    inside = False
    try:
        while True:
            line = rd.next()
            if not inside:
                inside = line == f"@@BEGIN {tag}"
                continue
            if line.startswith(f"@@END {tag} "):
                return int(line.split()[2])
            print(line, flush=True)
    except (TimeoutError, EOFError) as e:
        print(f"labio: agent '{command}': {type(e).__name__}", file=sys.stderr)
        return 124


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    verb, args = sys.argv[1], sys.argv[2:]
    table = {"qmp": cmd_qmp, "qmp-wait": cmd_qmp_wait, "agent": cmd_agent}
    if verb not in table:
        print(__doc__, file=sys.stderr)
        return 2
    return table[verb](args)


if __name__ == "__main__":
    sys.exit(main())
