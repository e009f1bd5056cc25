"""Work that grows with what others made, done beside the event loop once it is long.

Rows of the store made into records, a history's pause ends, a report of every campaign: each
is a few microseconds an item, so a short list costs the loop less than a thread's hand-over,
and a long one held every check (10,000 inbox rows 258 ms; 10,000 changes 34-42 ms; 6,000 ended
pauses 603-706 ms before their reading was made linear; 80,000 campaigns 255-283 ms).
"""

import asyncio
from collections.abc import Callable, Sized
from typing import TypeVar

ON_THE_LOOP = 100  # items: this many or fewer are worked on the loop itself

T = TypeVar("T")
Items = TypeVar("Items", bound=Sized)


async def aside(items: Items, work: Callable[[Items], T]) -> T:
    """work(items): at once for a short list, in a thread for a long one. The items must be the
    caller's alone while the thread runs."""
    if len(items) <= ON_THE_LOOP:
        return work(items)
    return await asyncio.to_thread(work, items)
