"""Units shared by every figure melodygru reports."""

import math

LN2 = math.log(2.0)  # nats per bit: bits = nats / LN2


def human_bytes(n: int) -> str:
    """A size as people read it: '18.0 MB', '63.1 kB', '12 bytes' (1 MB = 2**20 bytes)."""
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.1f} kB" if n >= 2**10 else f"{n} bytes"
