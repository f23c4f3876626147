"""Units shared by every figure melodygru reports."""

import math

LN2 = math.log(2.0)  # nats per bit: bits = nats / LN2
