"""The admin API: reloading the routing file and the emergency switch."""
