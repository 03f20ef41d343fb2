-- The MTurk service's tables as create_all made them before it had migrations (SQLite).
CREATE TABLE account (
	id INTEGER NOT NULL, 
	balance_cents BIGINT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE hit_types (
	id VARCHAR(64) NOT NULL, 
	title VARCHAR(128) NOT NULL, 
	description TEXT NOT NULL, 
	keywords TEXT NOT NULL, 
	reward_cents BIGINT NOT NULL, 
	assignment_duration BIGINT NOT NULL, 
	auto_approval_delay BIGINT NOT NULL, 
	qualification_requirements JSON NOT NULL, 
	fingerprint TEXT NOT NULL, 
	notification JSON, 
	notification_active BOOLEAN NOT NULL, 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (fingerprint)
);
CREATE TABLE worker_blocks (
	seq INTEGER NOT NULL, 
	worker_id VARCHAR(64) NOT NULL, 
	reason TEXT NOT NULL, 
	PRIMARY KEY (seq), 
	UNIQUE (worker_id)
);
CREATE TABLE worker_messages (
	seq INTEGER NOT NULL, 
	worker_id VARCHAR(64) NOT NULL, 
	subject VARCHAR(200) NOT NULL, 
	text TEXT NOT NULL, 
	sent_at FLOAT NOT NULL, 
	PRIMARY KEY (seq)
);
CREATE INDEX ix_worker_messages_worker_id ON worker_messages (worker_id);
CREATE TABLE hits (
	seq INTEGER NOT NULL, 
	id VARCHAR(64) NOT NULL, 
	hit_type_id VARCHAR(64) NOT NULL, 
	question TEXT NOT NULL, 
	max_assignments INTEGER NOT NULL, 
	requester_annotation VARCHAR(255), 
	unique_request_token VARCHAR(64), 
	created_at FLOAT NOT NULL, 
	expiration FLOAT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	review_status VARCHAR(32) NOT NULL, 
	PRIMARY KEY (seq), 
	UNIQUE (id), 
	FOREIGN KEY(hit_type_id) REFERENCES hit_types (id), 
	UNIQUE (unique_request_token)
);
CREATE INDEX ix_hits_type_status ON hits (hit_type_id, status);
CREATE INDEX ix_hits_status_expiration ON hits (status, expiration);
CREATE TABLE assignments (
	seq INTEGER NOT NULL, 
	id VARCHAR(64) NOT NULL, 
	hit_id VARCHAR(64) NOT NULL, 
	worker_id VARCHAR(64) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	accept_time FLOAT NOT NULL, 
	deadline FLOAT NOT NULL, 
	submit_time FLOAT, 
	auto_approval_time FLOAT, 
	approval_time FLOAT, 
	rejection_time FLOAT, 
	answer TEXT, 
	requester_feedback TEXT, 
	PRIMARY KEY (seq), 
	UNIQUE (id), 
	FOREIGN KEY(hit_id) REFERENCES hits (id)
);
CREATE INDEX ix_assignments_worker ON assignments (worker_id, status);
CREATE INDEX ix_assignments_status_auto_approval ON assignments (status, auto_approval_time);
CREATE INDEX ix_assignments_hit_status ON assignments (hit_id, status);
CREATE INDEX ix_assignments_status_deadline ON assignments (status, deadline);
CREATE TABLE bonuses (
	seq INTEGER NOT NULL, 
	worker_id VARCHAR(64) NOT NULL, 
	assignment_id VARCHAR(64) NOT NULL, 
	amount_cents BIGINT NOT NULL, 
	reason TEXT NOT NULL, 
	grant_time FLOAT NOT NULL, 
	unique_request_token VARCHAR(64), 
	PRIMARY KEY (seq), 
	FOREIGN KEY(assignment_id) REFERENCES assignments (id), 
	UNIQUE (unique_request_token)
);
CREATE INDEX ix_bonuses_assignment_id ON bonuses (assignment_id);
