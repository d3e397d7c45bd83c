"""The only door to Asterisk: ARI over aioari, events parsed into pydantic models.

Nothing outside this package imports aioari or sees its exceptions.
"""
