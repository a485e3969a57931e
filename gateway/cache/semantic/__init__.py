"""The semantic cache: a paraphrase of an earlier request answered from the cache.

    keytext.py     what is compared (the last user turn) and what must match exactly (the partition)
    guards.py      the checks beyond similarity: numbers, units, negation, ..., every content word
    vectors.py     int8 vectors and the LSH signatures that bound a lookup
    index.py       the index interface and its in-process implementation
    redis_index.py the index in plain Redis, shared by replicas
    matcher.py     one lookup: embed, nearest neighbours, threshold, guards

The pipeline's cache stage (gateway/pipeline/cache.py) tries the exact cache first, then this;
its embedder (gateway/pipeline/embedder.py) calls the catalog's embeddings model through the router.
"""
