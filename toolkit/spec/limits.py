"""How big a jobspec may be, in every dimension a hostile or broken file can grow in.

A jobspec is a hand-written file of a few kilobytes (jobspecs/fastqe.yaml: 1.6 KB, about 100 values, 5 levels
deep). Each bound below is far beyond any real spec and low enough that the loader answers a hostile one
(``/dev/zero``, a 10,000-deep nesting, an alias bomb, a 100,000-digit number, millions of keys) in about a
second with one positioned error, instead of exhausting memory, the stack or the user's patience.
"""

from __future__ import annotations

# The file: read at most this many bytes (plus one, to know it is larger). Long block scalars (a command or a
# query of thousands of lines) stay far below; ruamel parses 1 MiB of mappings in about 5 s, so this also
# bounds the parse.
MAX_SPEC_BYTES = 1024 * 1024

# Nesting of mappings and lists. Parsing recurses once (several Python frames) per level; real specs nest 5-6
# levels (register.NAME.meta.KEY...), and the interpreter's stack holds a few hundred.
MAX_DEPTH = 64

# Keys, values and list items, counting each alias as the values it stands for (so `&a [*b, *b, ...]` chains
# are measured by what they expand to, before anything expands them).
MAX_VALUES = 20_000

# Characters of a number written without quotes. Python refuses to convert integers of more than 4,300
# digits (and `0b1111...` builds one from a short-enough text); no resource or count needs more than a few.
MAX_NUMBER_CHARS = 64

# inputs.query: graphql-core's parser and validator recurse several frames per level of braces, brackets and
# parentheses; a real query nests 5-8 levels. The token bound keeps a long query's parse short.
MAX_QUERY_DEPTH = 32
MAX_QUERY_TOKENS = 20_000

# Templates: Jinja's parser and code generator recurse several frames per bracket, unary operator and block;
# `{{ [[[[... }}` 200 deep, `{{ - - - ... 1 }}` or 300 nested `{% if %}` exhausted the stack (exit 70). Real
# templates nest 2-4 levels.
MAX_TEMPLATE_NESTING = 32
# ... and every walk of the parsed template (Jinja's analysis, its code generator, Python's compiler) recurses
# per level of its syntax tree, which chains of `and`, `|filter`, `.attribute` or `[index]` deepen one level
# per link although the parser reads them in a loop.
MAX_TEMPLATE_TREE_DEPTH = 100

# Diagnostics: a file with thousands of unknown keys gets the first few, and one line saying how many more.
MAX_UNKNOWN_KEYS_SHOWN = 20
MAX_ERRORS_SHOWN = 100
