"""Wire formats of the external APIs: parse (and, for demo feeds and test servers, encode) them."""
