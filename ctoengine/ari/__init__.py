"""The only door to Asterisk: ARI over our own aiohttp requests and websocket
(Basic authentication), events parsed into pydantic models.

Nothing outside this package sees aiohttp's exceptions for ARI.
"""
