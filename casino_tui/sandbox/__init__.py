"""A Binance USD-M Futures REST + WebSocket server on loopback over the built-in simulated exchange.

`casino-tui sandbox` (serve.serve_main) or `running_sandbox()` in tests; any Binance client can point at it.
"""

from casino_tui.sandbox.serve import SandboxServer, add_arguments, running_sandbox, serve_main
from casino_tui.sandbox.venue import SandboxSettings

__all__ = ["SandboxServer", "SandboxSettings", "add_arguments", "running_sandbox", "serve_main"]
