"""Where the values of a command template land in its shell code, read with a real bash parser.

The command renderer shell-quotes every value (``shlex.quote``), which makes it exactly one word where the
shell reads a *plain word*: an argument, an assignment's value, a redirection target. Anywhere else the same
quoted text means something else: inside quotes the author wrote, ``'{{ v }}'`` becomes ``''value''`` and the
value is unquoted; in a heredoc body, an arithmetic expression, ``[[ ]]``, backticks or a comment the shell
re-reads or evaluates it. So the toolkit checks *where* every value goes:

* ``toolkit validate`` replaces each ``{{ ... }}`` of the command template by a marker word, removes the
  ``{% %}`` tags and comments, parses the result as bash and reports every marker that is not a plain word
  (toolkit.spec._templates);
* the renderer does the same on each group's rendered command (markers in place of the values, so the shell
  structure is the real one, loops and conditions included), refuses the group when a value is misplaced,
  and applies the option rule below; only then are the quoted values put in (toolkit.render).

The parser is tree-sitter with the tree-sitter-bash grammar: a C parser, about 5 microseconds for a typical
command, which tells heredoc bodies (and whether their delimiter is quoted), ``$(( ))``, ``(( ))``,
``[[ ]]`` from ``[ ]``, backticks from ``$( )``, case patterns, parameter expansions and nested substitutions
apart. It recovers from syntax errors by inserting ERROR nodes; any error makes the analysis fail closed.

The rules (docs/jobspec.md, "Where values can go") are decided on the syntax tree, innermost node first:
a marker must be (part of) a plain word that is an argument of a command, a ``for``/``select`` list word,
an array element, an assignment's value, a redirection target, a here-string or a ``case`` subject; and the
literal text joined to it must not change how the shell reads the value (a backslash or ``$`` just before it,
a ``~`` prefix, brace expansion, a quote directly before or after it).

Options: a value at the start of an argument is refused when it starts with ``-`` (it would be read as an
option: ``sort {{ note }}`` with ``--output=/x``) unless the argument follows ``--`` in the same command; the
renderer applies this to values from metadata (see toolkit.render).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["Placement", "ShellAnalysis", "analyse", "marker_pattern"]


@dataclass(frozen=True)
class Placement:
    """One marker (value) in the shell code, and what may go there."""

    number: int  # the marker's number
    start: int  # character offsets of the marker in the analysed text
    end: int
    problem: str | None  # why no value can go here (None: a plain word)
    advice: str = ""  # how to write it instead
    one_word: bool = True  # only one word fits here (a list of several values would split)
    argument_start: bool = False  # the value starts an argument word: a leading '-' makes it an option
    after_end_of_options: bool = False  # a literal `--` precedes it in the same command


@dataclass(frozen=True)
class ShellAnalysis:
    placements: tuple[Placement, ...]
    syntax_error: tuple[int, str] | None  # (character offset, message) of the first syntax error


def marker_pattern(tag: str) -> re.Pattern[str]:
    """Markers ``tkv<tag>n<N>x``: letters and digits only, so the parser reads each as (part of) a word."""
    return re.compile(rf"tkv{re.escape(tag)}n(\d+)x")


def marker(tag: str, number: int) -> str:
    return f"tkv{tag}n{number}x"


@functools.cache
def _parser():
    # Imported here: `toolkit --help` and the verbs that never read a command do not load the grammar.
    import tree_sitter
    import tree_sitter_bash

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))


# ------------------------------------------------------------------------------------------- the rules

_QUOTES = "remove the quotes around {{ ... }}: values are quoted for you (write the literal text unquoted " \
    "beside it, or build the whole word in the expression: {{ 'text ' ~ value }})"
_HEREDOC = "a heredoc body re-reads the value (and a value with a line equal to the delimiter ends it): write " \
    "the line with printf instead, the value as an argument: printf '%s\\n' {{ ... }} > FILE"
_ARITHMETIC = "arithmetic evaluates text as code (a[$(cmd)] runs cmd): pass the value to a program as an " \
    "argument, or check it is a number first, e.g. [ {{ ... }} -gt 0 ]"
_VARIABLE = "a value cannot be (part of) a variable name: assign it, NAME={{ ... }}, and use \"$NAME\""
_PROGRAM = "a value cannot be the program a command runs (nor a function name): name the program in the " \
    "template and pass the value as an argument"
_EVALUATES = "{name} reads its arguments as shell code or variable names: pass the value to a program as an " \
    "argument instead"

# Quoting and re-reading contexts: the innermost one around a marker decides.
_CONTEXTS = {
    "raw_string": ("inside single quotes", _QUOTES),
    "string": ("inside double quotes", _QUOTES),
    "translated_string": ("inside $\"...\" quotes", _QUOTES),
    "ansi_c_string": ("inside $'...' quotes", _QUOTES),
    "string_content": ("inside double quotes", _QUOTES),
    "heredoc_body": ("in a heredoc body", _HEREDOC),
    "heredoc_content": ("in a heredoc body", _HEREDOC),
    "heredoc_start": ("a heredoc delimiter", "name the delimiter in the template"),
    "heredoc_end": ("a heredoc delimiter", "name the delimiter in the template"),
    "comment": ("in a comment", "a quoted value with a line break would end the comment and run the rest: "
                "remove it from the comment"),
    "arithmetic_expansion": ("in an arithmetic expansion $(( ))", _ARITHMETIC),
    "subscript": ("in an array index", _ARITHMETIC),
    "c_style_for_statement": ("in a for (( )) loop header", _ARITHMETIC),
    "expansion": ("inside a ${...} parameter expansion", "assign the value to a variable first: "
                  "NAME={{ ... }}, then use ${NAME...}"),
    "simple_expansion": ("a variable name after $", _VARIABLE),
    "variable_name": ("a variable name", _VARIABLE),
    "extglob_pattern": ("in a case or [[ ]] pattern", "patterns treat the value's characters as pattern syntax: compare "
                        "with a program or [ ], e.g. [ \"$x\" = {{ ... }} ]"),
    "regex": ("in a regular expression", "a pattern reads the value as regex syntax: pass it to a program "
              "(grep -F -e {{ ... }})"),
    "brace_expression": ("in a brace expansion", "write the alternatives as separate words"),
    "function_definition": ("a function name", _PROGRAM),
    "command_name": ("the program of a command", _PROGRAM),
}
# Nodes a marker's word can sit in on its way up to the construct that uses it.
_WORD_PARTS = {"word", "concatenation", "number"}
# Builtins that run their arguments as code, or read them as variable names (whose subscripts bash evaluates).
_EVALUATING_BUILTINS = {
    "eval", "source", ".", "trap", "let", "alias", "unset", "read", "mapfile", "readarray", "getopts",
    "exec", "command", "builtin", "coproc", "enable", "hash", "type", "complete", "compgen", "bind", "fc",
    "declare", "typeset", "local", "export", "readonly", "unalias", "shopt", "set",
}
# Programs whose first argument that is not an option is the program they run.
_WRAPPERS = {"env", "nohup", "nice", "ionice", "time", "timeout", "xargs", "sudo", "stdbuf", "chroot",
             "setsid", "taskset", "flock", "watch", "strace", "parallel", "runuser", "su", "doas"}
_SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"}
# Per wrapper: its options that take a value as the next word, and how many arguments come before the program.
_WRAPPER_SYNTAX = {
    "env": (frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}), 0),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "ionice": (frozenset({"-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "--pgid", "-u", "--uid"}), 0),
    "time": (frozenset({"-f", "--format", "-o", "--output"}), 0),
    "timeout": (frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "xargs": (frozenset({"-a", "--arg-file", "-d", "--delimiter", "-E", "-e", "-I", "-i", "-L", "-l", "-n",
                         "--max-args", "-P", "--max-procs", "-s", "--max-chars", "--process-slot-var"}), 0),
    "sudo": (frozenset({"-u", "--user", "-g", "--group", "-h", "--host", "-p", "--prompt", "-C", "--close-from",
                        "-D", "--chdir", "-r", "--role", "-t", "--type", "-U", "--other-user", "-T",
                        "--command-timeout", "-R", "--chroot"}), 0),
    "doas": (frozenset({"-u", "-C"}), 0),
    "stdbuf": (frozenset({"-i", "--input", "-o", "--output", "-e", "--error"}), 0),
    "chroot": (frozenset({"--userspec", "--groups"}), 1),
    "flock": (frozenset({"-w", "--wait", "--timeout", "-E", "--conflict-exit-code"}), 1),
    "taskset": (frozenset(), 1),
    "watch": (frozenset({"-n", "--interval", "-q", "--equexit"}), 0),
    "strace": (frozenset({"-o", "-e", "-p", "-s", "-u", "-a", "-b", "-E", "-I", "-O", "-P", "-S", "-X"}), 0),
    "runuser": (frozenset({"-u", "-g", "--group", "-G", "--supp-group", "-s", "--shell", "-w",
                           "--whitelist-environment"}), 0),
    # su [options] [-] [USER [ARGUMENT...]]: its arguments go to the user's shell, so the word after USER is
    # taken for the program (a value there would be a script the shell runs).
    "su": (frozenset({"-c", "--command", "--session-command", "-s", "--shell", "-g", "--group", "-G",
                      "--supp-group", "-w", "--whitelist-environment"}), 1),
    "setsid": (frozenset(), 0),
    "nohup": (frozenset(), 0),
}
# find's actions that run a program: the next word is the program, its arguments run up to `;` or `+`.
_FIND_RUNS = {"-exec", "-execdir", "-ok", "-okdir"}
# Options whose value a program runs as shell code.
_CODE_OPTIONS = {"su": {"-c", "--command", "--session-command"}, "runuser": {"-c", "--command"},
                 "flock": {"-c", "--command"}}
# Declaration options that keep an assigned value plain text (-i evaluates it, -n makes it a reference).
_PLAIN_DECLARATION_OPTIONS = set("aArxglut")


class _Tree:
    """The parsed text, with byte <-> character offsets."""

    def __init__(self, text: str):
        self.text = text
        self.data = text.encode("utf-8", "surrogatepass")
        self.tree = _parser().parse(self.data)
        self.ascii = len(self.data) == len(text)

    def chars(self, byte_offset: int) -> int:
        if self.ascii:
            return byte_offset
        return len(self.data[:byte_offset].decode("utf-8", "surrogatepass"))

    def node_text(self, node) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "surrogatepass")


def analyse(text: str, markers: re.Pattern[str]) -> ShellAnalysis:
    """Every marker of ``text`` (matches of ``markers``, group 1 its number) and whether a value may go there."""
    tree = _Tree(text)
    root = tree.tree.root_node
    error = _first_syntax_error(tree, root) if root.has_error else None
    integer_variables = _integer_variables(tree, root) if "-" in text else set()
    placements = []
    for match in markers.finditer(text):
        start = len(text[: match.start()].encode("utf-8", "surrogatepass")) if not tree.ascii else match.start()
        end = start + len(match.group())
        placements.append(_place(tree, root, int(match.group(1)), match.start(), match.end(), start, end,
                                 integer_variables, markers))
    return ShellAnalysis(tuple(placements), error)


def _first_syntax_error(tree: _Tree, root) -> tuple[int, str]:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing:
            return tree.chars(node.start_byte), f"not valid shell: missing {node.type!r}"
        if node.is_error:
            inner = node.text[:20].decode("utf-8", "replace")
            return tree.chars(node.start_byte), f"not valid shell: the parser stops at {inner!r}"
        stack.extend(reversed([child for child in node.children if child.has_error or child.is_missing]))
    return 0, "not valid shell"


def _integer_variables(tree: _Tree, root) -> set[str]:
    """Variables the text declares with -i (an assignment to them evaluates the value as arithmetic)."""
    names: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "declaration_command":
            options = "".join(tree.node_text(c)[1:] for c in node.children if c.type == "word"
                              and tree.node_text(c)[:1] in "-+")
            if "i" in options:
                for child in node.children:
                    if child.type == "variable_name":
                        names.add(tree.node_text(child))
                    elif child.type == "variable_assignment":
                        name = child.child_by_field_name("name")
                        if name is not None:
                            names.add(tree.node_text(name))
        stack.extend(node.children)
    return names


def _problem(number, start, end, where: str, advice: str) -> Placement:
    return Placement(number, start, end, f"{{{{ ... }}}} is {where}", advice)


def _place(tree: _Tree, root, number: int, char_start: int, char_end: int, start: int, end: int,
           integer_variables: set[str], markers: re.Pattern[str]) -> Placement:
    node = root.descendant_for_byte_range(start, end)
    if node is None:
        return _problem(number, char_start, char_end, "outside the shell code", "")
    problem = functools.partial(_problem, number, char_start, char_end)
    # Re-reading contexts anywhere around the marker come first: whatever the marker is inside them, the
    # shell reads the quoted value a second time.
    outer = node
    while outer is not None:
        if outer.type in ("heredoc_body", "heredoc_content"):
            return problem(*_CONTEXTS["heredoc_body"])
        if outer.type == "command_substitution" and tree.data[outer.start_byte : outer.start_byte + 1] == b"`":
            return problem("inside backticks", "backticks re-read the quoted value: use $( ) instead")
        outer = outer.parent
    # The innermost enclosing construct decides; anything unknown fails closed.
    unit = None  # the whole word (word or concatenation) the marker is part of
    chain = []
    current = node
    while current is not None:
        chain.append(current)
        kind = current.type
        if kind in _WORD_PARTS:
            unit = current
            current = current.parent
            continue
        if kind in _CONTEXTS:
            if kind in ("variable_name", "simple_expansion", "expansion") and _in_arithmetic(current):
                return problem("in an arithmetic expression", _ARITHMETIC)
            return problem(*_CONTEXTS[kind])
        break
    structure = current
    if structure is None or unit is None:
        return problem("not in a plain word", "")
    word_problem = _word_problem(tree, unit, start, end)
    if word_problem:
        return problem(*word_problem)
    at_start = unit.start_byte == start
    kind = structure.type
    if kind == "command":
        return _argument(tree, structure, unit, number, char_start, char_end, at_start, markers)
    if kind == "test_command":
        opener = structure.children[0].type if structure.children else ""
        if opener == "[[":
            return problem("inside [[ ]]", "[[ ]] evaluates the operands of -eq, -lt... as arithmetic (code): "
                           "use [ ] (test), whose operands are plain arguments")
        return _argument(tree, structure, unit, number, char_start, char_end, at_start, markers, name="[")
    if kind in ("binary_expression", "unary_expression", "parenthesized_expression"):
        # Inside a test: find the test command (arithmetic contexts were refused on the way up).
        test = structure
        while test is not None and test.type in ("binary_expression", "unary_expression",
                                                 "parenthesized_expression"):
            test = test.parent
        if test is not None and test.type == "test_command":
            opener = test.children[0].type if test.children else ""
            if opener == "[[":
                return problem("inside [[ ]]", "[[ ]] evaluates the operands of -eq, -lt... as arithmetic "
                               "(code): use [ ] (test), whose operands are plain arguments")
            return _argument(tree, test, unit, number, char_start, char_end, at_start, markers, name="[")
        return problem("in an arithmetic expression", _ARITHMETIC)
    if kind == "variable_assignment":
        name = structure.child_by_field_name("name")
        if name is not None and name.start_byte <= start < name.end_byte:
            return problem(*_CONTEXTS["variable_name"])
        declaration = structure.parent
        if declaration is not None and declaration.type == "declaration_command":
            options = "".join(tree.node_text(c)[1:] for c in declaration.children
                              if c.type == "word" and tree.node_text(c)[:1] in "-+")
            if set(options) - _PLAIN_DECLARATION_OPTIONS:
                return problem(f"assigned by {tree.node_text(declaration.children[0])} -{options}",
                               "declare -i evaluates the value as arithmetic and -n makes it a variable "
                               "reference: assign it as plain text")
        if name is not None and tree.node_text(name) in integer_variables:
            return problem(f"assigned to {tree.node_text(name)}, which is declared an integer (-i)",
                           "an integer variable evaluates what it is given as arithmetic: drop -i")
        if _tilde_prefix(tree.node_text(unit)[: start - unit.start_byte], assignment=True):
            return problem("after a ~ (tilde expansion)", "write the home folder as $HOME")
        return Placement(number, char_start, char_end, None)
    if kind == "array":
        return Placement(number, char_start, char_end, None, one_word=False, argument_start=at_start)
    if kind == "file_redirect":
        destinations = structure.children_by_field_name("destination")
        if destinations and unit.start_byte > destinations[0].start_byte:
            # `sort > out {{ v }}`: the grammar keeps the words after a redirection's target in the redirection,
            # but for bash they are arguments of the command (a value there starting with '-' is an option of
            # sort, after `exec 3> f` the program exec runs).
            statement = structure.parent
            body = statement.child_by_field_name("body") if statement is not None else None
            if statement is not None and statement.type == "redirected_statement" and body is not None \
                    and body.type == "command":
                return _argument(tree, body, unit, number, char_start, char_end, at_start, markers,
                                 extra=statement)
            return problem("after a redirection's target, where the shell reads no value",
                           "put the value before the redirection, as an argument of a command")
        return Placement(number, char_start, char_end, None)
    if kind == "herestring_redirect":
        return Placement(number, char_start, char_end, None)
    if kind == "heredoc_redirect":
        # Words after the delimiter on the heredoc's line are arguments of its command.
        command = structure.parent.child_by_field_name("body") if structure.parent is not None else None
        if command is not None and command.type == "command":
            return _argument(tree, command, unit, number, char_start, char_end, at_start, markers,
                             extra=structure)
        return problem("on a heredoc's line", "")
    if kind == "for_statement":
        variable = structure.child_by_field_name("variable")
        if variable is not None and variable.start_byte <= start < variable.end_byte:
            return problem(*_CONTEXTS["variable_name"])
        return Placement(number, char_start, char_end, None, one_word=False, argument_start=at_start)
    if kind == "case_statement":
        return Placement(number, char_start, char_end, None)
    if kind == "case_item":
        return problem("in a case pattern", "a pattern reads the value's characters as pattern syntax: "
                       "compare with [ \"$x\" = {{ ... }} ] instead")
    if kind == "declaration_command":
        return problem(f"an argument of {tree.node_text(structure.children[0])}",
                       "a value cannot be a variable name or an option of a declaration: "
                       "assign it, NAME={{ ... }}")
    if kind == "unset_command":
        return problem("an argument of unset", _EVALUATES.format(name="unset"))
    if kind in ("compound_statement", "arithmetic_expansion", "postfix_expression", "ternary_expression"):
        return problem("in an arithmetic expression", _ARITHMETIC)
    return problem(f"not in a plain word (in a {kind.replace('_', ' ')})", "")


def _in_arithmetic(node) -> bool:
    while node is not None:
        if node.type in ("arithmetic_expansion", "subscript", "c_style_for_statement"):
            return True
        if node.type == "compound_statement" and node.children and node.children[0].type == "((":
            return True
        if node.type in ("command", "program", "string", "heredoc_body"):
            return False
        node = node.parent
    return False


def _word_problem(tree: _Tree, unit, start: int, end: int) -> tuple[str, str] | None:
    """Literal text joined to the marker in its word that changes how the shell reads the value."""
    parts = list(unit.children) if unit.type == "concatenation" else [unit]
    index = next((i for i, part in enumerate(parts) if part.start_byte <= start and end <= part.end_byte), None)
    if index is None:
        return ("split across the parts of a word", "")
    part = parts[index]
    before = tree.data[part.start_byte : start].decode("utf-8", "surrogatepass")
    for neighbour, side in ((index - 1, "before"), (index + 1, "after")):
        touching = (before == "") if side == "before" else (end == part.end_byte)
        if touching and 0 <= neighbour < len(parts) and parts[neighbour].type in (
            "string", "raw_string", "ansi_c_string", "translated_string"
        ):
            return (f"joined to a quoted string {side} it",
                    "values are quoted for you, so the quotes look as if they enclosed the value when they do "
                    "not: write the literal part unquoted, or build the word in the expression: "
                    "{{ 'text ' ~ value }}")
    backslashes = len(before) - len(before.rstrip("\\"))
    if backslashes % 2:
        return ("escaped by a backslash before it", "the backslash would escape the value's opening quote: "
                "remove it")
    if before.endswith("$"):
        return ("right after a $", "$ before a quoted value makes $'...' (escapes are decoded) and before a "
                "bare one a variable: remove the $ or separate it")
    whole_before = tree.data[unit.start_byte : start].decode("utf-8", "surrogatepass")
    if _tilde_prefix(whole_before, assignment=False):
        return ("after a ~ (tilde expansion)", "write the home folder as $HOME")
    literal = "".join(tree.node_text(p) for p in parts if p.type == "word")
    if "{" in literal and "}" in literal:
        return ("in a brace expansion", "brace expansion splits a bare value at commas: write the "
                "alternatives as separate words")
    return None


def _tilde_prefix(before: str, *, assignment: bool) -> bool:
    # A ~ that starts the word (or, in an assignment, follows = or :) is expanded with what follows up to '/'.
    pattern = r"(?:^|[=:])~[^/]*$" if assignment else r"^~[^/]*$"
    return re.search(pattern, before) is not None


def _argument(tree: _Tree, command, unit, number: int, char_start: int, char_end: int, at_start: bool,
              markers: re.Pattern[str], *, name: str | None = None, extra=None) -> Placement:
    """A marker in an argument of a simple command (or of ``[``).

    ``extra`` is a heredoc redirection (words on its line are arguments) or a redirected statement (words after
    a redirection's target are arguments, see _place).
    """
    if name is None:
        name_node = command.child_by_field_name("name")
        name = tree.node_text(name_node) if name_node is not None else ""
        words = list(command.children_by_field_name("argument"))
        if extra is not None and extra.type == "redirected_statement":
            for redirect in extra.children_by_field_name("redirect"):
                if redirect.type == "file_redirect":
                    words += redirect.children_by_field_name("destination")[1:]
        elif extra is not None:
            words += extra.children_by_field_name("argument")
        words.sort(key=lambda word: word.start_byte)
        before = [tree.node_text(w) for w in words if w.end_byte <= unit.start_byte]
    else:
        # A [ ] test: its operands are nested expressions; the words before the value, as the shell splits them.
        before = tree.data[command.start_byte + 1 : unit.start_byte].decode("utf-8", "surrogatepass").split()

    def refuse(where: str, advice: str) -> Placement:
        return Placement(number, char_start, char_end, f"{{{{ ... }}}} is {where}", advice)

    if markers.search(name):
        # The program itself is a value: reported at that marker; its arguments are not checked further.
        return Placement(number, char_start, char_end, None, one_word=False, argument_start=at_start,
                         after_end_of_options="--" in before)
    # The program that reads this argument: through wrappers (`env`, `nohup`, `timeout 5`...) and `find -exec`,
    # so that `nohup sh -c {{ v }}` is a sh -c command, as `sh -c {{ v }}` is.
    program = name.rsplit("/", 1)[-1]
    while True:
        if program in _CODE_OPTIONS and before and before[-1] in _CODE_OPTIONS[program]:
            return refuse(f"the command {program} {before[-1]} runs", f"{program} {before[-1]} runs its argument "
                          "as shell code: name the program in the template and pass the value as its argument")
        if program in _WRAPPERS:
            start = _wrapped_program(program, before)
            if start is None:  # the value is where the wrapper expects its program
                return refuse(f"where {program} expects the program it runs", _PROGRAM)
            program, before = before[start].rsplit("/", 1)[-1], before[start + 1:]
            if markers.search(program):
                return Placement(number, char_start, char_end, None, one_word=False, argument_start=at_start,
                                 after_end_of_options="--" in before)
            continue
        if program == "find":
            runs = [i for i, word in enumerate(before) if word in _FIND_RUNS]
            ends = [i for i, word in enumerate(before) if word in (";", "\\;", "';'", '";"', "+")]
            if runs and (not ends or ends[-1] < runs[-1]):
                if runs[-1] == len(before) - 1:
                    return refuse(f"where find {before[runs[-1]]} expects the program it runs", _PROGRAM)
                program, before = before[runs[-1] + 1].rsplit("/", 1)[-1], before[runs[-1] + 2:]
                continue
        break
    if program in _EVALUATING_BUILTINS:
        return refuse(f"an argument of {program}", _EVALUATES.format(name=program))
    if program in _SHELLS and any(re.fullmatch(r"-[a-zA-Z]*c[a-zA-Z]*", w) for w in before):
        return refuse(f"in a {program} -c command", f"{program} -c runs its argument as shell code: put the "
                      "code in the template and pass the value as an argument after it ($1)")
    if program in ("printf", "[", "test", "wait") and before and before[-1] in ("-v", "-R", "-p"):
        return refuse(f"a variable name for {program} {before[-1]}", _VARIABLE)
    return Placement(number, char_start, char_end, None, one_word=False, argument_start=at_start,
                     after_end_of_options="--" in before)


def _wrapped_program(wrapper: str, before: list[str]) -> int | None:
    """The index in ``before`` of the program ``wrapper`` runs, or None when the next word would be it.

    Options are skipped (with their value when they take one, see _WRAPPER_SYNTAX), then the positional
    arguments the wrapper takes before the program (`timeout DURATION`, `chroot DIR`...). Any word that could
    still be an option or a positional is not taken for the program: the value after it is refused instead.
    """
    value_options, positionals = _WRAPPER_SYNTAX.get(wrapper, (frozenset(), 0))
    index = 0
    options_done = False
    while index < len(before):
        word = before[index]
        if not options_done and word == "--":
            options_done = True
        elif not options_done and (word.startswith("-") and len(word) > 1 or wrapper == "su" and word == "-"):
            if word in value_options:
                index += 1  # the option's value
        elif wrapper == "env" and "=" in word and not options_done:
            pass  # NAME=VALUE
        elif positionals:
            positionals -= 1
        else:
            return index
        index += 1
    return None


# Names bash runs without looking at PATH (builtins and keywords; `[` and `test` are both, `time` a keyword).
SHELL_BUILTINS = frozenset("""
. : [ [[ alias bg bind break builtin caller case cd command compgen complete compopt continue coproc declare dirs
disown echo enable eval exec exit export false fc fg for function getopts hash help history if jobs kill let local
logout mapfile popd printf pushd pwd read readarray readonly return select set shift shopt source suspend test time
times trap true type typeset ulimit umask unalias unset until wait while
""".split())


def programs(text: str, markers: re.Pattern[str]) -> list[str]:
    """The programs a command runs from PATH: the literal names of its simple commands (at any depth:
    pipelines, ``$( )``, loops), less shell builtins and functions the command defines. Names that are values
    (markers) or expansions (``$tool``) cannot be known before the job runs and are left out; so is a name
    with a ``/`` (a path the job provides)."""
    tree = _Tree(text)
    defined: set[str] = set()
    found: dict[str, None] = {}
    stack = [tree.tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "function_definition":
            name = node.child_by_field_name("name")
            if name is not None:
                defined.add(tree.node_text(name))
        elif node.type == "command":
            name = node.child_by_field_name("name")
            if name is not None and name.named_child_count == 1 and name.named_children[0].type == "word":
                word = tree.node_text(name)
                if re.fullmatch(r"[A-Za-z0-9_.+-]+", word) and not markers.search(word):
                    found.setdefault(word, None)
        stack.extend(reversed(node.children))
    return [name for name in found if name not in SHELL_BUILTINS and name not in defined]
