"""E-mail channel: parsing, sanitising and quote folding of inbound mail."""
