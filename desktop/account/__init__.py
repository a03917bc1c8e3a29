"""The signed-in account: session, secure store, and the local service client."""
