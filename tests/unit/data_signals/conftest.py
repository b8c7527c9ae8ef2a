"""One torch thread: on a shared 2-core box, intra-op threads spin against each other and
made a tiny conv step ~80x slower (90 ms vs 1 ms measured)."""

import torch

torch.set_num_threads(1)
