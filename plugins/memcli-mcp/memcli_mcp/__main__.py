from memcli_mcp import serve

serve()
