"""`python -m aipod_api.mcp`: the aipod marketplace as an MCP server (stdio or Streamable
HTTP). Needs the optional extra: `pip install 'aipod_api[mcp]'`; the API server itself
never imports this package."""
