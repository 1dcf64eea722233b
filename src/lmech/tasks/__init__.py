"""Data generators: teacher–student tasks and small data sets that ship with a package."""

from lmech.tasks.digits import Digits, digits
from lmech.tasks.teacher import LinearTeacher, linear_teacher, whitened_inputs

__all__ = ["Digits", "LinearTeacher", "digits", "linear_teacher", "whitened_inputs"]
