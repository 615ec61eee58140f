"""Sessions: an agent's unit of work, with its status, counters and end-of-session job."""
