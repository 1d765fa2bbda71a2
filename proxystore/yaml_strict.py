"""YAML for specs and role files: safe, bounded, and a key given twice in one mapping is an error.

PyYAML keeps the last of two equal keys without a word, so a copy-pasted task label or a
second `name:` silently replaces the first. Here it fails like a syntax error, with the line;
so does an integer too long for Python to convert (a ValueError, not a YAMLError, in PyYAML).

Aliases of mappings and lists (`*name` repeating an `&name` collection, merge keys `<<: *name`
included) are refused: nine lines of nested aliases expand to a billion nodes (the "billion
laughs"; `spec check` used > 4 GB for 46 s). Aliases of single values are fine. Nesting deeper
than MAX_NESTING levels is refused too, before Python's recursion limit is reached.
"""

from __future__ import annotations

from typing import Any

import yaml

from proxystore.limits import MAX_NESTING


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader whose mappings refuse duplicate keys, collection aliases and deep nesting."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node, refusing an alias of a collection and nesting beyond the bound."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = self.anchors.get(event.anchor)
            if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
                kind = "mapping" if isinstance(node, yaml.MappingNode) else "list"
                raise yaml.composer.ComposerError(
                    None, None, f"alias *{event.anchor} repeats a {kind}: aliases of mappings "
                    "and lists are not allowed (write the value out)", event.start_mark)
            return super().compose_node(parent, index)
        if self._depth >= MAX_NESTING:
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {MAX_NESTING} levels deep",
                self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:  # the mapping's own keys; what `<<:` merges may be overridden
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {first + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


def _int(loader: _StrictLoader, node: yaml.ScalarNode) -> Any:
    try:
        return loader.construct_yaml_int(node)
    except ValueError:  # Python refuses to convert an integer of more than 4300 digits
        raise yaml.constructor.ConstructorError(
            None, None, f"integer of {len(node.value):,} digits is too large",
            node.start_mark) from None


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _int)


def load(text: str) -> Any:
    """Parse YAML (or JSON) text safely; yaml.YAMLError on bad syntax or a duplicate key."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
