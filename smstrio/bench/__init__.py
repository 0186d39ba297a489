"""``smstrio bench``: throughput scenarios on the local services, each also a ratio to a reference.

``scenarios`` runs smstrio's own roles as separate processes and watches the statistics
in Redis; ``older`` and ``plain_asyncio`` are the references, run as processes of their
own (importing trio-asyncio patches asyncio for the whole process); ``report`` holds the
results, the targets of issue #6 and the table.
"""
