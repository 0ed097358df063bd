"""Background loops: mailbox sync, the send queue, event dispatch, webhook delivery."""
