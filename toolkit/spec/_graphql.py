"""Offline checks of ``inputs.query`` against the GraphQL schema bundled in the ``metamist`` package
(toolkit.metamist_types.bundled_schema: found without importing ``metamist``, built once per process)."""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSyntaxError,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    TypeNode,
    parse,
    validate,
)
from graphql.language import Lexer, Source, TokenKind

from toolkit.metamist_types import bundled_schema
from toolkit.spec.limits import MAX_QUERY_DEPTH, MAX_QUERY_TOKENS


@dataclass(frozen=True)
class QueryProblem:
    message: str
    line: int | None = None  # 1-based, inside the query text
    column: int | None = None
    length: int | None = None


@dataclass(frozen=True)
class QueryVariable:
    name: str
    line: int
    column: int
    type_text: str
    is_list: bool
    named_type: str
    required: bool  # non-null at the top: the query cannot run with this variable null


@dataclass
class QueryCheck:
    problems: list[QueryProblem]
    variables: dict[str, QueryVariable]  # declared by the operation; empty when it does not parse
    parsed: bool


def _type_text(node: TypeNode) -> str:
    if isinstance(node, NonNullTypeNode):
        return _type_text(node.type) + "!"
    if isinstance(node, ListTypeNode):
        return f"[{_type_text(node.type)}]"
    assert isinstance(node, NamedTypeNode)
    return node.name.value


def _unwrap(node: TypeNode) -> tuple[bool, str]:
    """(is a list, innermost named type)."""
    is_list = False
    while not isinstance(node, NamedTypeNode):
        if isinstance(node, ListTypeNode):
            is_list = True
        node = node.type
    return is_list, node.name.value


def _problem(error: GraphQLError, prefix: str) -> QueryProblem:
    location = error.locations[0] if error.locations else None
    length = None
    if error.nodes and error.nodes[0].loc is not None:
        node_loc = error.nodes[0].loc
        # A field with a selection set spans many lines; underline only its first line's worth.
        source_text = node_loc.source.body[node_loc.start : node_loc.end]
        length = len(source_text.split("\n", 1)[0].rstrip())
    return QueryProblem(f"{prefix}{error.message}", location.line if location else None,
                        location.column if location else None, length)


_OPENING = {TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L}
_CLOSING = {TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R}


def _too_deep(text: str) -> QueryProblem | None:
    """The first bracket nested deeper than MAX_QUERY_DEPTH, found with the (iterative) lexer before the
    (recursive) parser sees the query; syntax errors are left to the parser to report."""
    lexer = Lexer(Source(text))
    depth = 0
    try:
        token = lexer.advance()
        while token.kind != TokenKind.EOF:
            if token.kind in _OPENING:
                depth += 1
                if depth > MAX_QUERY_DEPTH:
                    return QueryProblem(f"the query nests deeper than {MAX_QUERY_DEPTH} levels: no Metamist query "
                                        "needs that", token.line, token.column, 1)
            elif token.kind in _CLOSING:
                depth -= 1
            token = lexer.advance()
    except GraphQLSyntaxError:
        pass
    return None


def check_query(text: str) -> QueryCheck:
    """Parse and validate a query; never raises for a bad query (SchemaUnavailable if no schema)."""
    deep = _too_deep(text)
    if deep is not None:
        return QueryCheck([deep], {}, False)
    try:
        document: DocumentNode = parse(text, max_tokens=MAX_QUERY_TOKENS)
    except GraphQLSyntaxError as error:
        message = error.message.removeprefix("Syntax Error: ")
        location = error.locations[0] if error.locations else None
        problem = QueryProblem(f"GraphQL syntax error: {message}", location.line if location else None,
                               location.column if location else None, 1)
        return QueryCheck([problem], {}, False)
    problems = [_problem(error, "GraphQL: ") for error in validate(bundled_schema(), document)]
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    variables: dict[str, QueryVariable] = {}
    if len(operations) != 1:
        problems.append(QueryProblem(f"inputs.query must hold exactly one operation, found {len(operations)}", 1, 1))
    for operation in operations:
        if operation.operation != OperationType.QUERY:
            where = operation.loc.source.get_location(operation.loc.start) if operation.loc else None
            problems.append(QueryProblem(
                f"inputs.query must be a query, not a {operation.operation.value}: inputs only read from Metamist",
                where.line if where else 1, where.column if where else 1, len(operation.operation.value),
            ))
        for definition in operation.variable_definitions:
            name = definition.variable.name.value
            where = definition.loc.source.get_location(definition.loc.start) if definition.loc else None
            is_list, named = _unwrap(definition.type)
            variables[name] = QueryVariable(
                name, where.line if where else 1, where.column if where else 1,
                _type_text(definition.type), is_list, named,
                isinstance(definition.type, NonNullTypeNode) and definition.default_value is None,
            )
    return QueryCheck(problems, variables, True)
