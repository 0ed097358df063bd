"""Infrastructure that knows nothing of the domain: database, clock, crypto, blobs, paging."""
