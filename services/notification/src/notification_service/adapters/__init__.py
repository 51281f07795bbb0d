"""Channel adapters behind one Protocol (`channel.ChannelAdapter`): SMTP email, sandbox SMS,
signed webhooks."""
