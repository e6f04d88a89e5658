"""Limits on what one request may ask of the server: body size and the shape of a GraphQL query.

The server listens on a fixed port of the user's machine, so any local process (or a web page, through the
browser) can send it requests. A query with 1,000 aliases of the same list field made a 600 MB answer; these
limits refuse such a query before it runs, with a GraphQL error that says which limit and by how much. The
numbers leave ample room for real queries: the toolkit's own queries use depth 4 and no aliases, and
GraphiQL's and the metamist client's schema introspection (depth 15, about 200 fields) pass.

They are checked before graphql-core's standard validation, not after: one of its rules
(OverlappingFieldsCanBeMerged) compares every pair of fields with the same name in a selection set, so a 15 kB
query repeating ``id`` 5,000 times took 46 s of the server's CPU before it was refused, and a GET with no Origin
(an ``<img>`` on any web page) can send one. Hence also the token limit (checked while parsing) and the limit on
how often one name may be selected in one place, which bound that rule's work on a query within the limits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)

MAX_BODY_BYTES = 64 * 1024 * 1024  # an upsert-many of 20,000 participants with their reads is about 40 MB
MAX_QUERY_DEPTH = 20  # nested levels of fields
MAX_QUERY_FIELDS = 2_000  # field selections, fragments counted at every place they are spread
MAX_QUERY_ALIASES = 30
MAX_QUERY_TOKENS = 20_000  # lexical tokens of the query text; GraphiQL's introspection query has about 500
MAX_SAME_NAME = 50  # selections with the same response name in one selection set (fragments merged in)


@dataclass(frozen=True)
class _Measure:
    fields: int = 0
    aliases: int = 0
    depth: int = 0
    # response name -> selections of it at this level (through fragments too): what the standard rule pairs up
    names: Counter = field(default_factory=Counter)
    repeated: tuple[str, int] = ("", 0)  # the most repeated response name anywhere below, and how often


class QueryLimitsRule(ValidationRule):
    """Depth, number of fields and number of aliases of each operation, fragments expanded.

    Each fragment is measured once (memoised), so a "fragment bomb" (fragments spreading each other twice over)
    is measured in linear time, and its exponential size is what gets refused.
    """

    def __init__(self, context):
        super().__init__(context)
        self._fragments: dict[str, _Measure] = {}

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args):
        measure = self._measure(node.selection_set)
        name = f"operation '{node.name.value}'" if node.name else "the query"
        repeated_name, repeats = _most_repeated(measure)
        for amount, limit, what in ((measure.depth, MAX_QUERY_DEPTH, "levels of nested fields"),
                                    (measure.fields, MAX_QUERY_FIELDS, "field selections"),
                                    (measure.aliases, MAX_QUERY_ALIASES, "aliases"),
                                    (repeats, MAX_SAME_NAME, f"selections of '{repeated_name}' in one place")):
            if amount > limit:
                self.report_error(GraphQLError(
                    f"{name} is too large for this server: {amount:,} {what}, the limit is {limit:,}", node
                ))
        return self.SKIP

    def _measure(self, selection_set: SelectionSetNode | None) -> _Measure:
        fields = aliases = depth = 0
        names: Counter = Counter()
        repeated = ("", 0)
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                inner = self._measure(selection.selection_set)
                fields += 1 + inner.fields
                aliases += (selection.alias is not None) + inner.aliases
                depth = max(depth, 1 + inner.depth)
                names[(selection.alias or selection.name).value] += 1
                repeated = max(repeated, _most_repeated(inner), key=lambda pair: pair[1])
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = self._measure(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self._fragment(selection.name.value)
            else:  # pragma: no cover - the GraphQL grammar has no other selection
                continue
            fields += inner.fields
            aliases += inner.aliases
            depth = max(depth, inner.depth)
            names.update(inner.names)  # a fragment's fields merge into this selection set
            repeated = max(repeated, inner.repeated, key=lambda pair: pair[1])
        return _Measure(fields, aliases, depth, names, repeated)

    def _fragment(self, name: str) -> _Measure:
        if name not in self._fragments:
            self._fragments[name] = _Measure()  # a cycle (refused by the standard rules anyway) counts as empty
            fragment = self.context.get_fragment(name)
            self._fragments[name] = self._measure(fragment.selection_set) if fragment else _Measure()
        return self._fragments[name]


def _most_repeated(measure: _Measure) -> tuple[str, int]:
    """The most repeated response name at this level or anywhere below it."""
    here = max(measure.names.items(), key=lambda pair: pair[1], default=("", 0))
    return max(here, measure.repeated, key=lambda pair: pair[1])


QUERY_LIMIT_RULES = [QueryLimitsRule]
