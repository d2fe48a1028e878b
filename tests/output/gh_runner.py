"""How a GitHub Actions runner reads a step's output, for the injection tests.

A transcription of the runner's rules (actions/runner `ActionCommandManager.TryProcessCommand`,
`ActionCommand.TryParseV2` and the legacy `TryParse`):

- output is read line by line from stdout and stderr; a line ends at `\\n`, `\\r` or `\\r\\n`
  (.NET `StreamReader.ReadLine`);
- `::name props::data` is a command when the line, after leading whitespace, starts with `::`
  and `name` is registered; properties are `k=v` pairs split on `,`, values unescaped
  (`%25 %0D %0A %3A %2C`); data unescaped (`%25 %0D %0A`);
- the legacy `##[name props]data` is a command **anywhere** in a line (props split on `;`);
- `::stop-commands::TOKEN` stops all processing until a line `::TOKEN::`; `add-mask` masks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

REGISTERED = {"set-env", "set-output", "save-state", "add-mask", "add-path", "add-matcher",
              "remove-matcher", "debug", "warning", "error", "notice", "group", "endgroup",
              "echo", "stop-commands"}
_LINES = re.compile(r"\r\n|\r|\n")


def _unescape_data(s: str) -> str:
    return s.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _unescape_prop(s: str) -> str:
    return (s.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":")
            .replace("%2C", ",").replace("%25", "%"))


@dataclass
class Command:
    name: str
    props: dict[str, str]
    data: str
    legacy: bool = False


@dataclass
class Runner:
    registered: set[str] = field(default_factory=lambda: set(REGISTERED))
    commands: list[Command] = field(default_factory=list)
    masks: list[str] = field(default_factory=list)
    stopped_by: str | None = None
    log: list[str] = field(default_factory=list)

    def _v2(self, line: str) -> Command | None:
        msg = line.lstrip()
        if not msg.startswith("::"):
            return None
        end = msg.find("::", 2)
        if end < 0:
            return None
        info, data = msg[2:end], msg[end + 2:]
        name, _, props_text = info.partition(" ")
        if name not in self.registered:
            return None
        props = {}
        for pair in filter(None, props_text.split(",")):
            k, sep, v = pair.partition("=")
            if sep and k:
                props[k] = _unescape_prop(v)
        return Command(name, props, _unescape_data(data))

    def _v1(self, line: str) -> Command | None:
        start = line.find("##[")
        if start < 0:
            return None
        close = line.find("]", start)
        if close < 0:
            return None
        info = line[start + 3:close]
        name, _, props_text = info.partition(" ")
        if name not in self.registered:
            return None
        props = {}
        for pair in filter(None, props_text.split(";")):
            k, sep, v = pair.partition("=")
            if sep:
                props[k] = _unescape_data(v)
        return Command(name, props, _unescape_data(line[close + 1:]), legacy=True)

    def feed(self, text: str) -> Runner:
        for line in _LINES.split(text):
            cmd = self._v2(line) or self._v1(line)
            if cmd is None:
                self.log.append(line)
                continue
            if self.stopped_by is not None:
                if cmd.name == self.stopped_by:
                    self.registered.discard(self.stopped_by)
                    self.stopped_by = None
                else:
                    self.log.append(line)
                continue
            self.commands.append(cmd)
            if cmd.name == "stop-commands":
                self.stopped_by = cmd.data
                self.registered.add(cmd.data)
            elif cmd.name == "add-mask":
                self.masks.append(cmd.data)
        return self

    def names(self) -> list[str]:
        return [c.name for c in self.commands]


def run_output(*texts: str) -> Runner:
    """A runner that has read `texts` (stdout, then stderr)."""
    r = Runner()
    for t in texts:
        r.feed(t)
    return r
