"""Turns of the event loop shared by every SMTP session: at most a few commands each turn.

A session waits for a place before each answer, and so before it reads its next command: the
commands a client pipelines are answered a turn at a time (5,000 RCPTs in one write held every
other answer half a second). A turn after each answer was not enough once many sessions
were busy: each turn then ran one command of every session, and 200 sessions pipelining VRFY
held every check 137 ms (62-99 ms now, and all but one check of 93,000 under 30 ms). A turn
runs at most COMMANDS_A_TURN of them, whatever the sessions, and the rest wait for the next
turns in the order they came.
"""

import asyncio
from collections import deque

COMMANDS_A_TURN = 32  # about 2 ms of commands; a mail server's few sessions wait one turn an answer


class CommandTurns:
    def __init__(self, per_turn: int = COMMANDS_A_TURN):
        self._per_turn = per_turn
        self._waiting: deque[asyncio.Future] = deque()
        self._turn: asyncio.Handle | None = None  # the next turn's start, while sessions are busy

    async def take(self) -> None:
        """Return when this session may answer, and then read, its next command: at the next turn
        of the loop, or a later one if that turn's places are taken."""
        loop = asyncio.get_running_loop()
        place = loop.create_future()
        self._waiting.append(place)
        if self._turn is None:
            self._turn = loop.call_soon(self._next_turn)
        await place  # a session closed meanwhile is cancelled here: its place is skipped

    def _next_turn(self) -> None:
        """A new turn: its places go to the sessions that waited longest. Those run in the turn
        after this one and queue again behind the rest; this runs again after them."""
        given = 0
        while self._waiting and given < self._per_turn:
            place = self._waiting.popleft()
            if not place.done():
                place.set_result(None)
                given += 1
        busy = given or self._waiting
        self._turn = asyncio.get_running_loop().call_soon(self._next_turn) if busy else None
