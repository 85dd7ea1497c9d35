"""The x86 encoder: an Instruction and a mode in, GNU as's bytes and fields out."""

from .encoder import Encoder
from .encoding import NO_SYMBOLS, BranchForm, Constants, Encoding, EncodingError, Field
from .nops import linker_fill, longest_nop, nop_fill

__all__ = ["NO_SYMBOLS", "BranchForm", "Constants", "Encoder", "Encoding", "EncodingError",
           "Field", "linker_fill", "longest_nop",
           "nop_fill"]
