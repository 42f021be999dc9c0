"""The DynamoDB stand-in and the generated entities and event files it and the raw zone hold."""
