"""Campaign files to CampaignSpec: the TOML source, date rules and events (pure: writes nothing)."""
