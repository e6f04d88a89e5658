"""``toolkit.plan.render`` is :mod:`toolkit.render` (the same module object, not a copy).

The renderer moved below ``toolkit.spec`` (which checks templates with it) and ``toolkit.plan`` (which renders
with it), so that they no longer import each other. This alias keeps ``from toolkit.plan.render import ...``
working while ``toolkit/plan/__init__.py`` is being reworked on another branch; delete it once nothing imports
the old name. It is a package rather than a ``render.py`` file so that git follows the rename of the old file
into ``toolkit/render.py`` when branches that edited it are merged.
"""

import sys

from toolkit import render

sys.modules[__name__] = render
