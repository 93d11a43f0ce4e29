"""`from octet import trt`: the TensorRT-compatible names (the same objects as octet's)."""
from . import *  # noqa: F401,F403
from . import (CalibrationAlgoType, DataType, IInt8Calibrator, IInt8EntropyCalibrator, IInt8EntropyCalibrator2,  # noqa: F401
               IInt8LegacyCalibrator, IInt8MinMaxCalibrator, Logger, float16, float32, int8, int32, nptype, volume)
