"""The gateway's outbound I/O: the upstream client (pooled connections, breakers, load
shedding) and the Lua scripts it runs in Redis."""
