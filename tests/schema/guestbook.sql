-- Reference guestbook schema (SPEC §1): the app's tables, owned by the app,
-- not by the extension. Tests and the demo create it in a schema of their
-- choice (search_path decides where: default public).

CREATE TABLE org_units (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	code text UNIQUE,
	name text NOT NULL,
	parent_id uuid NULL REFERENCES org_units (id)
);

CREATE TABLE users (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	full_name text NOT NULL,
	role text NOT NULL CHECK (role IN ('resepsionis', 'operator', 'lead', 'kadis', 'admin')),
	org_unit_id uuid NULL REFERENCES org_units (id),
	whatsapp_number text NULL,
	is_active boolean NOT NULL DEFAULT true
);

CREATE TABLE org_unit_contacts (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_unit_id uuid NOT NULL REFERENCES org_units (id),
	contact_type text NOT NULL CHECK (contact_type IN ('lead', 'kadis')),
	name text NOT NULL,
	whatsapp_number text NOT NULL,
	is_active boolean NOT NULL DEFAULT true
);

CREATE TABLE cases (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	code text UNIQUE NOT NULL,
	case_type text NOT NULL CHECK (case_type IN ('visitor', 'surat')),
	status text NOT NULL DEFAULT 'new'
		CHECK (status IN ('new', 'assigned', 'in_progress', 'escalated', 'resolved', 'closed')),
	escalation_level text NOT NULL DEFAULT 'none'
		CHECK (escalation_level IN ('none', 'lead', 'kadis')),
	org_unit_id uuid NOT NULL REFERENCES org_units (id),
	unit_tujuan text NULL,
	assigned_operator_id uuid NULL REFERENCES users (id),
	visitor_name text,
	visitor_id_number text,
	purpose text,
	surat_tracking_no text,
	surat_perihal text,
	created_at timestamptz DEFAULT now(),
	updated_at timestamptz DEFAULT now()
);

CREATE TABLE case_assignments (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	case_id uuid NOT NULL REFERENCES cases (id),
	operator_id uuid NOT NULL REFERENCES users (id),
	assigned_by uuid NULL REFERENCES users (id),
	assigned_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_assignments_case_idx ON case_assignments (case_id, assigned_at);

CREATE TABLE case_events (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	case_id uuid NOT NULL REFERENCES cases (id),
	event_type text NOT NULL,
	actor_id uuid NULL REFERENCES users (id),
	details jsonb NOT NULL DEFAULT '{}',
	created_at timestamptz DEFAULT now()
);
CREATE INDEX case_events_case_idx ON case_events (case_id);
