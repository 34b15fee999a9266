"""The ceilings: the least code that answers the same request, served the same way."""
