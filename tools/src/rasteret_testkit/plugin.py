"""pytest plugin: fixtures shared by every package's tests (registered via the pytest11 entry point).

Fixture modules are split by owner: COG fixture builders in ``fixtures_cogs``, loopback servers
in ``fixtures_servers``.
"""

from rasteret_testkit.fixtures_cogs import *  # noqa: F403
from rasteret_testkit.fixtures_hub import *  # noqa: F403  (Hub emulator, synthetic AEF data)
from rasteret_testkit.fixtures_servers import *  # noqa: F403
