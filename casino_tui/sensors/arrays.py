"""The array types of the sensors wing, named once so signatures say what an array holds."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]  # a candle field, an indicator line or a block of them
BoolArray = npt.NDArray[np.bool_]  # a mask over symbols (or over sensors × symbols)

# What an indicator state's update returns: one line, or several (MACD's line, signal and histogram).
Output = FloatArray | tuple[FloatArray, ...]
VoteArray = npt.NDArray[np.int8]  # votes in {-1, 0, 1}, as `rules.finish` leaves them
StrengthArray = npt.NDArray[np.float32]  # vote strengths in [0, 1]
