import os
import random

from tests import test_hostile_input as h
from tests.hostile import hostile_strings

h.STRINGS = hostile_strings()
from tests.test_hostile_input import *  # noqa: F401,F403,E402
from tests.test_hostile_input import _page_problems  # noqa: E402,F401
