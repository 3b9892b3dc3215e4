CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('0012');
CREATE TABLE app_user (
	id INTEGER NOT NULL, 
	username VARCHAR(100) NOT NULL, 
	password_hash VARCHAR(300), 
	role VARCHAR(20) NOT NULL, 
	organisation VARCHAR(100), 
	email VARCHAR(320), 
	display_name VARCHAR(200), 
	disabled BOOLEAN NOT NULL, 
	oidc_subject VARCHAR(300), 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_app_user PRIMARY KEY (id), 
	CONSTRAINT uq_app_user_username UNIQUE (username), 
	CONSTRAINT uq_app_user_oidc_subject UNIQUE (oidc_subject)
);
CREATE TABLE attempt (
	id INTEGER NOT NULL, 
	post_id INTEGER NOT NULL, 
	attempt_id VARCHAR(64) NOT NULL, 
	worker VARCHAR(200), 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	outcome VARCHAR(30), 
	http_status INTEGER, 
	error TEXT, 
	CONSTRAINT pk_attempt PRIMARY KEY (id), 
	CONSTRAINT fk_attempt_post_id_post FOREIGN KEY(post_id) REFERENCES post (id)
);
CREATE TABLE audit_event (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR(200) NOT NULL, 
	action VARCHAR(50) NOT NULL, 
	post_id INTEGER, 
	campaign VARCHAR(100), 
	detail TEXT, 
	CONSTRAINT pk_audit_event PRIMARY KEY (id)
);
CREATE TABLE calendar_feed (
	id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_used_at DATETIME, 
	revoked_at DATETIME, 
	CONSTRAINT pk_calendar_feed PRIMARY KEY (id), 
	CONSTRAINT fk_calendar_feed_user_id_app_user FOREIGN KEY(user_id) REFERENCES app_user (id), 
	CONSTRAINT uq_calendar_feed_token_hash UNIQUE (token_hash)
);
CREATE TABLE channel_state (
	name VARCHAR(100) NOT NULL, 
	paused BOOLEAN NOT NULL, 
	paused_reason TEXT, 
	paused_at DATETIME, 
	CONSTRAINT pk_channel_state PRIMARY KEY (name)
);
CREATE TABLE channel_token (
	channel VARCHAR(100) NOT NULL, 
	kind VARCHAR(30) NOT NULL, 
	sealed TEXT NOT NULL, 
	key_id VARCHAR(20) NOT NULL, 
	expires_at DATETIME, 
	refreshed_at DATETIME, 
	connected_at DATETIME NOT NULL, 
	connected_by VARCHAR(200) NOT NULL, 
	version INTEGER NOT NULL, 
	last_error TEXT, 
	CONSTRAINT pk_channel_token PRIMARY KEY (channel)
);
CREATE TABLE crisis_pause (
	id INTEGER NOT NULL, 
	organisation VARCHAR(100), 
	channels TEXT, 
	reason TEXT NOT NULL, 
	paused_by VARCHAR(200) NOT NULL, 
	paused_at DATETIME NOT NULL, 
	resumed_by VARCHAR(200), 
	resumed_at DATETIME, 
	CONSTRAINT pk_crisis_pause PRIMARY KEY (id)
);
CREATE TABLE feed_entry (
	id INTEGER NOT NULL, 
	feed VARCHAR(100) NOT NULL, 
	entry_key VARCHAR(500) NOT NULL, 
	title VARCHAR(500), 
	story VARCHAR(64), 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_feed_entry PRIMARY KEY (id), 
	CONSTRAINT uq_feed_entry_key UNIQUE (feed, entry_key)
);
CREATE TABLE feed_state (
	name VARCHAR(100) NOT NULL, 
	etag VARCHAR(500), 
	last_modified VARCHAR(100), 
	first_polled_at DATETIME, 
	last_polled_at DATETIME, 
	last_ok_at DATETIME, 
	failing_since DATETIME, 
	last_error VARCHAR(500), 
	entries_seen INTEGER NOT NULL, 
	CONSTRAINT pk_feed_state PRIMARY KEY (name)
);
CREATE TABLE login_attempt (
	id INTEGER NOT NULL, 
	username VARCHAR(100) NOT NULL, 
	address VARCHAR(100) NOT NULL, 
	at DATETIME NOT NULL, 
	succeeded BOOLEAN NOT NULL, 
	CONSTRAINT pk_login_attempt PRIMARY KEY (id)
);
CREATE TABLE "metric_sample" (
	id INTEGER NOT NULL, 
	post_id INTEGER NOT NULL, 
	collected_at DATETIME NOT NULL, 
	reach INTEGER, 
	impressions INTEGER, 
	engagements INTEGER, 
	clicks INTEGER, 
	raw TEXT, 
	final BOOLEAN DEFAULT 0 NOT NULL, 
	CONSTRAINT pk_metric_sample PRIMARY KEY (id), 
	CONSTRAINT fk_metric_sample_post_id_post FOREIGN KEY(post_id) REFERENCES post (id)
);
CREATE TABLE notice (
	id INTEGER NOT NULL, 
	kind VARCHAR(30) NOT NULL, 
	"key" VARCHAR(200) NOT NULL, 
	sent_at DATETIME NOT NULL, 
	subject VARCHAR(500) NOT NULL, through DATETIME, 
	CONSTRAINT pk_notice PRIMARY KEY (id), 
	CONSTRAINT uq_notice_kind_key UNIQUE (kind, "key")
);
CREATE TABLE pending_authorisation (
	id VARCHAR(64) NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	channel VARCHAR(100), 
	username VARCHAR(200), 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	payload TEXT NOT NULL, 
	CONSTRAINT pk_pending_authorisation PRIMARY KEY (id)
);
CREATE TABLE "post" (
	id INTEGER NOT NULL, 
	plan_key VARCHAR(400), 
	source VARCHAR(20) NOT NULL, 
	campaign VARCHAR(100), 
	focus_area VARCHAR(200), 
	year INTEGER, 
	occurrence DATE, 
	step VARCHAR(100), 
	audience VARCHAR(100), 
	channel VARCHAR(100) NOT NULL, 
	title VARCHAR(500), 
	text TEXT NOT NULL, 
	link VARCHAR(2000), 
	image_path VARCHAR(1000), 
	image_alt VARCHAR(2000), 
	content_hash VARCHAR(64), 
	scheduled_at DATETIME NOT NULL, 
	local_time VARCHAR(40), 
	dst_adjusted BOOLEAN NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	approved_by VARCHAR(100), 
	approved_at DATETIME, 
	idempotency_key VARCHAR(64) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME, 
	attempt_id VARCHAR(64), 
	lease_owner VARCHAR(200), 
	lease_expires_at DATETIME, 
	sending_at DATETIME, 
	external_id VARCHAR(500), 
	external_url VARCHAR(2000), 
	published_at DATETIME, 
	last_error TEXT, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	author VARCHAR(100), 
	last_editor VARCHAR(100), 
	story VARCHAR(64), 
	review_comment TEXT, 
	on_approval BOOLEAN DEFAULT 0 NOT NULL, 
	submitted_at DATETIME, 
	link_from_post_id INTEGER, 
	CONSTRAINT pk_post PRIMARY KEY (id), 
	CONSTRAINT uq_post_plan_key UNIQUE (plan_key), 
	CONSTRAINT fk_post_link_from_post_id_post FOREIGN KEY(link_from_post_id) REFERENCES post (id)
);
CREATE TABLE post_version (
	id INTEGER NOT NULL, 
	post_id INTEGER NOT NULL, 
	number INTEGER NOT NULL, 
	title VARCHAR(500), 
	text TEXT NOT NULL, 
	link VARCHAR(2000), 
	image_alt VARCHAR(2000), 
	editor VARCHAR(100), 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_post_version PRIMARY KEY (id), 
	CONSTRAINT fk_post_version_post_id_post FOREIGN KEY(post_id) REFERENCES post (id), 
	CONSTRAINT uq_post_version_number UNIQUE (post_id, number)
);
CREATE TABLE web_session (
	id INTEGER NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	user_id INTEGER NOT NULL, 
	csrf_token VARCHAR(100) NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_seen_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	ended_at DATETIME, 
	CONSTRAINT pk_web_session PRIMARY KEY (id), 
	CONSTRAINT fk_web_session_user_id_app_user FOREIGN KEY(user_id) REFERENCES app_user (id), 
	CONSTRAINT uq_web_session_token_hash UNIQUE (token_hash)
);
CREATE INDEX ix_attempt_post_id ON attempt (post_id);
CREATE INDEX ix_audit_event_post_id ON audit_event (post_id);
CREATE INDEX ix_calendar_feed_user_id ON calendar_feed (user_id);
CREATE INDEX ix_login_attempt_address_at ON login_attempt (address, at);
CREATE INDEX ix_login_attempt_username_at ON login_attempt (username, at);
CREATE INDEX ix_metric_sample_post_id ON metric_sample (post_id);
CREATE INDEX ix_pending_authorisation_expires_at ON pending_authorisation (expires_at);
CREATE INDEX ix_pending_authorisation_kind_created ON pending_authorisation (kind, created_at);
CREATE INDEX ix_post_author_state ON post (author, state);
CREATE INDEX ix_post_campaign_year ON post (campaign, year);
CREATE INDEX ix_post_channel_external_id ON post (channel, external_id);
CREATE INDEX ix_post_channel_published ON post (channel, published_at);
CREATE INDEX ix_post_due ON post (state, scheduled_at);
CREATE INDEX ix_post_link_from_post_id ON post (link_from_post_id);
CREATE INDEX ix_post_retry ON post (state, next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX ix_post_scheduled_at_id ON post (scheduled_at, id);
CREATE INDEX ix_post_state_published ON post (state, published_at);
CREATE INDEX ix_post_story ON post (story);
CREATE INDEX ix_post_version_post_id ON post_version (post_id);
CREATE INDEX ix_web_session_user_id ON web_session (user_id);
