"""Getting approved posts out on time: the daemon, the publisher, rate limits, notices."""
