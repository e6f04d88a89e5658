"""Whether this process is the ``toolkit`` program itself, or Python code (a test, a script) that imported it.

The program's process ends with its command, so it may trade what only matters to a process that goes on: it
freezes long-lived objects for the garbage collector (toolkit.backend, toolkit.cli). A caller in Python keeps
its collector as it was: frozen objects are never collected, and ``gc.get_referrers``/``gc.get_objects`` no
longer see them.
"""

AS_PROGRAM = False
