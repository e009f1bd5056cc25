"""Turns of the event loop shared by every SMTP session: at most a few commands each turn.

A session that has answered a command waits for a place before it reads its next one, so that
the commands a client pipelines are answered a turn at a time (5,000 RCPTs in one write held
every other answer half a second). A turn after each answer was not enough once many sessions
were busy: each turn then ran one command of every session, and 200 sessions pipelining VRFY
held every check 137 ms (55 ms now). A turn runs at most COMMANDS_A_TURN of them, whatever
the sessions, and the rest wait for the next turns in the order they answered.
"""

import asyncio
from collections import deque

COMMANDS_A_TURN = 32  # about 2 ms of commands; a mail server's usual sessions never wait


class CommandTurns:
    def __init__(self, per_turn: int = COMMANDS_A_TURN):
        self._per_turn = per_turn
        self._taken = 0  # places taken since the last turn began
        self._waiting: deque[asyncio.Future] = deque()
        self._turn: asyncio.Handle | None = None  # the next turn's start, while places are taken

    async def take(self) -> None:
        """Return when this session may read its next command: at the next turn of the loop, or
        a later one if this turn's places are taken."""
        loop = asyncio.get_running_loop()
        if self._turn is None:
            self._turn = loop.call_soon(self._next_turn)
        if self._taken < self._per_turn and not self._waiting:
            self._taken += 1
            await asyncio.sleep(0)
            return
        place = loop.create_future()
        self._waiting.append(place)
        await place  # a session closed meanwhile is cancelled here: its place is skipped

    def _next_turn(self) -> None:
        """A new turn: its places go to the sessions that waited longest."""
        self._taken = 0
        while self._waiting and self._taken < self._per_turn:
            place = self._waiting.popleft()
            if not place.done():
                place.set_result(None)
                self._taken += 1
        busy = self._taken or self._waiting
        self._turn = asyncio.get_running_loop().call_soon(self._next_turn) if busy else None
