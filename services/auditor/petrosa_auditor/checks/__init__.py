"""Pure checks over chunks of one dataset's records, in the store's time order."""
