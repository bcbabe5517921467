#!/usr/bin/env python3
"""Import circles among the modules of one Rust crate.

    scripts/import-cycles.py host/src [--depth N] [--edges]

Reads every `.rs` file under the crate's source directory (a binary's
`main.rs` beside a `lib.rs` is another crate and is skipped), collects the
paths each module names (`use crate::…`, `use super::…`, `use self::…`, a
child module's name, and the same paths written inline), resolves each to the
module that defines it, and prints every circle: a module that, through the
modules it uses, uses itself. `--depth 1` first folds every module into its
top-level ancestor (`postgres::client` counts as `postgres`), the stricter
view. `--edges` also prints every dependency. Exits 1 if there is a circle.

A reading aid, not a compiler: comments and string literals are skipped,
macros are read as text, and `#[cfg(test)]` code counts like any other.
"""

import argparse
import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_of(path: Path, src: Path) -> tuple:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return tuple(parts)


def strip(text: str) -> str:
    """The code without comments and string or char literals (kept as blanks)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif (m := re.match(r'b?r(#*)"', text[i:])) and (i == 0 or not re.match(r"\w", text[i - 1])):
            end = text.find('"' + m.group(1), i + m.end())
            out.append('""')
            i = n if end < 0 else end + 1 + len(m.group(1))
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            out.append('""')
            i += 1
        elif c == "'" and (m := re.match(r"'(\\.[^']*|[^\\'])'", text[i:])):
            out.append("' '")
            i += m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def use_paths(tree: str) -> list:
    """`a::{b, c::{d, self}}` as [[a, b], [a, c, d], [a, c]]."""
    tree = re.sub(r"\s+", "", tree)
    tree = re.sub(r"\bas" + IDENT, "", tree)
    paths, pos = [], 0

    def parse(prefix):
        nonlocal pos
        segment = []
        while pos < len(tree):
            if tree.startswith("::", pos):
                pos += 2
            elif tree[pos] == "{":
                pos += 1
                while pos < len(tree) and tree[pos] != "}":
                    parse(prefix + segment)
                    if pos < len(tree) and tree[pos] == ",":
                        pos += 1
                pos += 1
                return
            elif tree[pos] in ",}":
                break
            else:
                m = re.match(IDENT + r"|\*", tree[pos:])
                if not m:
                    pos += 1
                    continue
                segment.append(m.group(0))
                pos += m.end()
        path = [s for s in prefix + segment if s not in ("self", "*")]
        if path:
            paths.append(path)

    while pos < len(tree):
        parse([])
        if pos < len(tree) and tree[pos] == ",":
            pos += 1
    return paths


def resolve(path, here, modules):
    """The module `path`, written in module `here`, names (or None: not this crate)."""
    first = path[0]
    if first == "crate":
        absolute = list(path[1:])
    elif first in ("super", "self"):
        base, rest = list(here), list(path)
        while rest and rest[0] in ("super", "self"):
            if rest.pop(0) == "super" and base:
                base.pop()
        absolute = base + rest
    elif tuple(here) + (first,) in modules:
        absolute = list(here) + list(path)
    else:
        return None
    for end in range(len(absolute), -1, -1):
        if tuple(absolute[:end]) in modules:
            return tuple(absolute[:end])
    return ()


def dependencies(src: Path):
    files = {module_of(p, src): p for p in sorted(src.rglob("*.rs"))}
    if (src / "lib.rs").exists():
        files = {m: p for m, p in files.items() if p.name != "main.rs" or p.parent != src}
        files = {m: p for m, p in files.items() if "bin" not in p.relative_to(src).parts}
    modules = set(files)
    edges = {m: set() for m in modules}
    for module, path in files.items():
        code = strip(path.read_text())
        # Inline `mod name { … }` blocks (tests) change what `super` means.
        scopes = []
        for m in re.finditer(r"\bmod\s+(" + IDENT + r")\s*\{|[{}]", code):
            scopes.append((m.start(), m.group(1) or m.group(0)))
        stack, inline_at = [], []
        for start, token in scopes:
            if token == "{":
                stack.append(None)
            elif token == "}":
                if stack:
                    stack.pop()
            else:
                stack.append(token)
            inline_at.append((start, [s for s in stack if s]))

        def inline_module(offset):
            current = []
            for start, names in inline_at:
                if start > offset:
                    break
                current = names
            return current

        found = []
        for m in re.finditer(r"\buse\s+([^;]+);", code):
            for p in use_paths(m.group(1)):
                found.append((m.start(), p))
        for m in re.finditer(r"(?<![\w:])((?:" + IDENT + r"::)+" + IDENT + r")", code):
            found.append((m.start(), m.group(1).split("::")))
        for offset, p in found:
            inline = inline_module(offset)
            here = module + tuple(inline)
            target = resolve(p, here, modules | {here})
            if target is None:
                continue
            # A path into an inline module stays inside this file's module.
            while target not in modules:
                target = target[:-1]
            if target != module:
                edges[module].add(target)
    return edges


def fold(edges, depth):
    folded = {}
    for a, targets in edges.items():
        fa = a[:depth]
        folded.setdefault(fa, set())
        for b in targets:
            fb = b[:depth]
            if fb != fa:
                folded[fa].add(fb)
    return folded


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def one_loop(component, edges):
    """A shortest circle through the component's first module."""
    start, members = component[0], set(component)
    paths, queue = {start: [start]}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges[v]):
            if w == start:
                return paths[v] + [start]
            if w in members and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return component


def name(module):
    return "::".join(module) or "crate"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("src", type=Path, help="the crate's source directory, e.g. host/src")
    parser.add_argument("--depth", type=int, default=0, help="fold modules to this many path segments")
    parser.add_argument("--edges", action="store_true", help="print every dependency")
    args = parser.parse_args()
    edges = dependencies(args.src)
    if args.depth:
        edges = fold(edges, args.depth)
    if args.edges:
        for a in sorted(edges):
            print(f"{name(a)} -> {', '.join(name(b) for b in sorted(edges[a])) or '-'}")
    found = cycles(edges)
    view = f" (folded to depth {args.depth})" if args.depth else ""
    if not found:
        print(f"{args.src}: {len(edges)} modules{view}, no import circle")
        return 0
    for component in found:
        members = ", ".join(name(m) for m in component)
        loop = " -> ".join(name(m) for m in one_loop(component, edges))
        print(f"{args.src}: circle{view} among {members}; for one: {loop}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
