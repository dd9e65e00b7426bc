import type { Queryable, SqlDatabase } from './sql.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Append only: a released migration never changes, a fix is a new one. Every table that belongs to a
 * station references it with ON DELETE CASCADE, so deleting a station is one statement.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE stations (
        id               text PRIMARY KEY,
        security_profile smallint NOT NULL DEFAULT 1 CHECK (security_profile IN (1, 2, 3)),
        password_hash    text,
        boot_policy      text NOT NULL DEFAULT 'Accepted' CHECK (boot_policy IN ('Accepted', 'Pending', 'Rejected')),
        boot_status      text NOT NULL DEFAULT 'Unknown' CHECK (boot_status IN ('Unknown', 'Accepted', 'Pending', 'Rejected')),
        charging_station jsonb,
        last_boot_reason text,
        last_boot_at     timestamptz,
        last_seen        timestamptz,
        firmware_status  jsonb,
        log_status       jsonb,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE connectors (
        station_id   text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        evse_id      integer NOT NULL,
        connector_id integer NOT NULL,
        status       text NOT NULL,
        updated_at   timestamptz NOT NULL,
        PRIMARY KEY (station_id, evse_id, connector_id)
      );

      CREATE TABLE report_parts (
        station_id   text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        request_id   integer NOT NULL,
        seq_no       integer NOT NULL,
        tbc          boolean NOT NULL,
        generated_at text NOT NULL,
        report_data  jsonb NOT NULL,
        received_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, request_id, seq_no)
      );

      -- var_key: JSON array of component name/instance, EVSE id, connector id, variable name/instance.
      CREATE TABLE device_variables (
        station_id      text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        var_key         text NOT NULL,
        component       jsonb NOT NULL,
        variable        jsonb NOT NULL,
        attributes      jsonb NOT NULL,
        characteristics jsonb,
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, var_key)
      );

      CREATE TABLE station_events (
        id          bigserial PRIMARY KEY,
        station_id  text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        kind        text NOT NULL,
        payload     jsonb NOT NULL,
        received_at timestamptz NOT NULL
      );
      CREATE INDEX station_events_station_newest ON station_events (station_id, id DESC);

      CREATE TABLE customer_information_parts (
        station_id   text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        request_id   integer NOT NULL,
        seq_no       integer NOT NULL,
        tbc          boolean NOT NULL,
        generated_at text NOT NULL,
        data         text NOT NULL,
        received_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, request_id, seq_no)
      );
    `,
  },
  {
    version: 2,
    name: 'id tokens, transactions, meter values',
    sql: `
      -- Not per station: a token is valid wherever it is presented. ISO14443/ISO15693 UIDs arrive upper-cased.
      CREATE TABLE id_tokens (
        type       text NOT NULL,
        id_token   text NOT NULL,
        status     text NOT NULL CHECK (status IN ('Accepted', 'Blocked', 'Expired', 'Invalid')),
        group_id   text,
        expires_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (type, id_token)
      );

      -- Every TransactionEvent, verbatim, with the answer it got; a resend of a seq_no is stored once.
      CREATE TABLE transaction_events (
        station_id     text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        transaction_id text NOT NULL,
        seq_no         integer NOT NULL,
        event_type     text NOT NULL CHECK (event_type IN ('Started', 'Updated', 'Ended')),
        "timestamp"    timestamptz NOT NULL,
        trigger_reason text NOT NULL,
        offline        boolean NOT NULL,
        payload        jsonb NOT NULL,
        response       jsonb NOT NULL,
        received_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, transaction_id, seq_no)
      );

      -- The summary of a transaction's events, merged by meaning (see transaction-merge.ts). The *_seq and
      -- stopped_reason_ended columns record where a value came from, so a late event can tell whether it wins.
      CREATE TABLE transactions (
        station_id           text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        transaction_id       text NOT NULL,
        evse_id              integer,
        connector_id         integer,
        id_token             jsonb,
        remote_start_id      integer,
        active               boolean NOT NULL,
        started_at           timestamptz,
        ended_at             timestamptz,
        stopped_reason       text,
        stopped_reason_ended boolean,
        stopped_reason_seq   integer,
        charging_state       text,
        charging_state_seq   integer,
        meter_start_wh       double precision,
        meter_start_at       timestamptz,
        meter_stop_wh        double precision,
        meter_stop_at        timestamptz,
        last_seq_no          integer NOT NULL,
        event_count          integer NOT NULL,
        first_event_at       timestamptz NOT NULL,
        flags                text[] NOT NULL DEFAULT '{}',
        updated_at           timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, transaction_id)
      );
      CREATE INDEX transactions_station_active ON transactions (station_id, active);

      CREATE TABLE meter_values (
        id             bigserial PRIMARY KEY,
        station_id     text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        evse_id        integer NOT NULL,
        transaction_id text,
        source         text NOT NULL,
        meter_value    jsonb NOT NULL,
        received_at    timestamptz NOT NULL
      );
      CREATE INDEX meter_values_transaction ON meter_values (station_id, transaction_id, id);
    `,
  },
  {
    version: 3,
    name: 'installed certificates per station',
    sql: `
      -- What the station last reported of its installed certificates (M03/M04/M05), kept as reported.
      ALTER TABLE stations ADD COLUMN certificates jsonb;
    `,
  },
  {
    version: 4,
    name: 'a statement may refuse to go on',
    sql: `
      -- Lets one statement of a batch stop its whole transaction when it finds a case it does not handle
      -- alone (a transaction event that is not new); the batch is then written the careful way.
      CREATE FUNCTION stroom_expect(ok boolean, what text) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN
        IF NOT ok THEN
          RAISE EXCEPTION USING ERRCODE = 'SR001', MESSAGE = what;
        END IF;
        RETURN ok;
      END $$;
    `,
  },
  {
    version: 5,
    name: 'meter values and station events stored once',
    sql: `
      -- A MeterValues, NotifyEvent or SecurityEventNotification resent with a new messageId (its answer was
      -- lost) is stored once: content_hash (see content-hash.ts) is the natural key of such a message. Rows
      -- stored before have none (NULLs never collide), so nothing old needs deduplicating; status
      -- notifications, which may repeat, have none either.
      ALTER TABLE meter_values ADD COLUMN content_hash text;
      CREATE UNIQUE INDEX meter_values_once ON meter_values (station_id, source, content_hash);
      ALTER TABLE station_events ADD COLUMN content_hash text;
      CREATE UNIQUE INDEX station_events_once ON station_events (station_id, kind, content_hash);
    `,
  },
  {
    version: 6,
    name: 'transaction event conflicts',
    sql: `
      -- A TransactionEvent whose (station, transaction, seq_no) was already stored with other content (a
      -- station whose counter restarted): kept here, applied to its transaction, which gets the flag
      -- 'seqNoConflict'. content_hash (see content-hash.ts) makes a resend of the conflict count once.
      CREATE TABLE transaction_event_conflicts (
        station_id     text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        transaction_id text NOT NULL,
        seq_no         integer NOT NULL,
        content_hash   text NOT NULL,
        event_type     text NOT NULL CHECK (event_type IN ('Started', 'Updated', 'Ended')),
        "timestamp"    timestamptz NOT NULL,
        trigger_reason text NOT NULL,
        offline        boolean NOT NULL,
        payload        jsonb NOT NULL,
        response       jsonb NOT NULL,
        received_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, transaction_id, seq_no, content_hash)
      );
    `,
  },
  {
    version: 7,
    name: 'issued certificates, pending profile raise, signing outcome, remote-start grants',
    sql: `
      -- Certificates the CSMS CA signed for stations (SignCertificate). No foreign key on purpose: this is a
      -- revocation list, and a deleted station's certificates must stay revoked when the identity is
      -- registered again. serial_number: lower-case hex, as the TLS listener and the proxy header give it.
      CREATE TABLE issued_certificates (
        serial_number     text PRIMARY KEY,
        station_id        text NOT NULL,
        certificate_type  text NOT NULL,
        issued_at         timestamptz NOT NULL,
        not_after         timestamptz NOT NULL,
        revoked_at        timestamptz,
        revocation_reason text
      );
      CREATE INDEX issued_certificates_station ON issued_certificates (station_id, issued_at);

      -- TC_A_19: the profile a station accepted through SetNetworkProfile, applied when it connects with it.
      ALTER TABLE stations ADD COLUMN pending_security_profile smallint CHECK (pending_security_profile IN (2, 3));
      -- The last SignCertificate / CertificateSigned outcome (TC_A_14); also marks a signing in progress.
      ALTER TABLE stations ADD COLUMN certificate_signing jsonb;

      -- An id token sent in RequestStartTransaction, Accepted at that station while the grant lasts.
      CREATE TABLE remote_start_grants (
        station_id      text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        remote_start_id integer NOT NULL,
        id_token_type   text NOT NULL,
        id_token        text NOT NULL,
        transaction_id  text,
        created_at      timestamptz NOT NULL,
        PRIMARY KEY (station_id, remote_start_id)
      );
      CREATE INDEX remote_start_grants_token ON remote_start_grants (station_id, id_token_type, id_token);
    `,
  },
  {
    version: 8,
    name: 'report requests the station accepted',
    sql: `
      CREATE TABLE report_requests (
        station_id  text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        request_id  integer NOT NULL,
        accepted_at timestamptz NOT NULL,
        PRIMARY KEY (station_id, request_id)
      );
    `,
  },
  {
    version: 9,
    name: 'station-wide status on the station',
    sql: `
      -- 2.0.1 evseId 0 (1.6 connectorId 0) is the station itself (CONTRACT §3.2 "Station-wide status"): its
      -- status is a column of the station, not a phantom EVSE 0. The newest status stored as EVSE 0 moves here.
      ALTER TABLE stations ADD COLUMN station_status text;
      ALTER TABLE stations ADD COLUMN station_status_at timestamptz;
      UPDATE stations AS s SET station_status = c.status, station_status_at = c.updated_at
        FROM (SELECT DISTINCT ON (station_id) station_id, status, updated_at FROM connectors
               WHERE evse_id = 0 ORDER BY station_id, updated_at DESC) AS c
       WHERE s.id = c.station_id;
      DELETE FROM connectors WHERE evse_id = 0;
    `,
  },
  {
    version: 10,
    name: 'retention indexes',
    sql: `
      -- CSMS_RETENTION_DAYS: the periodic bounded DELETE finds expired rows without scanning whole tables.
      CREATE INDEX station_events_received ON station_events (received_at);
      CREATE INDEX meter_values_untied_received ON meter_values (received_at) WHERE transaction_id IS NULL;
    `,
  },
  {
    version: 11,
    name: 'certificate authorities in the database',
    sql: `
      -- CONTRACT §6: the CAs that sign station (name 'station') and, later, V2G ('v2g') certificates are the same on
      -- every node: created once here by the first node (INSERT … ON CONFLICT DO NOTHING, then re-read) unless given
      -- by file. The key is PEM: whoever can read this table holds the CA key (README "Security").
      CREATE TABLE certificate_authorities (
        name       text PRIMARY KEY,
        cert_pem   text NOT NULL,
        key_pem    text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 12,
    name: 'station password verifiers',
    sql: `
      -- HMAC of (id, password_hash, password) under a key kept outside the database (src/security/password-verifier.ts):
      -- lets any node with the key check a known station's password without scrypt.
      ALTER TABLE stations ADD COLUMN password_verifier bytea;
    `,
  },
  {
    version: 13,
    name: 'OCPP 1.6 stations',
    sql: `
      -- CONTRACT §3: the version a registration pins ('auto' takes the highest offered) and the one the last
      -- connection negotiated (NULL before any).
      ALTER TABLE stations ADD COLUMN ocpp_version_pin text NOT NULL DEFAULT 'auto' CHECK (ocpp_version_pin IN ('auto', '1.6', '2.0.1'));
      ALTER TABLE stations ADD COLUMN ocpp_version text CHECK (ocpp_version IN ('1.6', '2.0.1'));
      -- A 1.6 StatusNotification's errorCode, info and vendor fields, kept with the status they came with.
      ALTER TABLE connectors ADD COLUMN error jsonb;
      ALTER TABLE stations ADD COLUMN station_status_error jsonb;
      -- 1.6 transactionIds are integers the CSMS assigns: one sequence for the whole CSMS, so an id is never
      -- handed out twice, by any node, even after a crash (the Start row that carries it commits before the answer).
      CREATE SEQUENCE ocpp16_transaction_ids AS integer MINVALUE 1 NO CYCLE;
      -- CONTRACT §3.1: a 1.6 idTag is looked up by value, case-insensitively, whatever the token type.
      CREATE INDEX id_tokens_by_value ON id_tokens (upper(id_token));
      -- A resent 1.6 StartTransaction (its answer was lost) finds the transactionId it got the first time.
      CREATE INDEX transaction_events_16_starts ON transaction_events (station_id, "timestamp") WHERE trigger_reason = 'StartTransaction';
    `,
  },
  {
    version: 14,
    name: 'fleet-wide transaction list',
    sql: `
      -- GET /api/v1/transactions and its CSV: newest start first, paged by keyset (start, station, transaction).
      CREATE INDEX transactions_fleet_newest ON transactions ((coalesce(started_at, first_event_at)) DESC, station_id DESC, transaction_id DESC);
    `,
  },
  {
    version: 15,
    name: 'transaction events without an offline flag',
    sql: `
      -- A 1.6 StartTransaction or StopTransaction says nothing about being sent offline: NULL, not a guessed false.
      ALTER TABLE transaction_events ALTER COLUMN offline DROP NOT NULL;
      ALTER TABLE transaction_event_conflicts ALTER COLUMN offline DROP NOT NULL;
    `,
  },
  {
    version: 16,
    name: 'operator accounts, sessions, API keys and the audit trail',
    sql: `
      -- CONTRACT §8.7. Passwords as station passwords are (scrypt, src/security/passwords.ts).
      CREATE TABLE operator_users (
        username      text PRIMARY KEY,
        password_hash text NOT NULL,
        role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now()
      );
      -- Sessions live here, not in a node's memory: deleting a user or changing its password ends them on every
      -- node at once. Only a SHA-256 of the cookie value is kept, so a database read gives no usable cookie.
      CREATE TABLE operator_sessions (
        token_hash text PRIMARY KEY,
        username   text NOT NULL REFERENCES operator_users (username) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX operator_sessions_by_user ON operator_sessions (username);
      CREATE TABLE operator_api_keys (
        id         bigserial PRIMARY KEY,
        name       text NOT NULL,
        role       text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        key_hash   text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      );
      -- The audit names a key by its name (actor key:<name>): two live keys may not share one.
      CREATE UNIQUE INDEX operator_api_keys_live_name ON operator_api_keys (name) WHERE revoked_at IS NULL;
      -- Append-only: the code has no UPDATE or DELETE for it.
      CREATE TABLE audit_log (
        id         bigserial PRIMARY KEY,
        at         timestamptz NOT NULL,
        actor      text NOT NULL,
        role       text,
        method     text NOT NULL,
        path       text NOT NULL,
        target     text,
        station_id text,
        action     text,
        outcome    text NOT NULL,
        status     integer NOT NULL,
        address    text,
        node_id    text
      );
      CREATE INDEX audit_log_by_actor ON audit_log (actor, id DESC);
      CREATE INDEX audit_log_by_station ON audit_log (station_id, id DESC) WHERE station_id IS NOT NULL;
      CREATE INDEX audit_log_by_time ON audit_log (at);
    `,
  },
  {
    version: 17,
    name: 'webhooks and their durable outbox',
    sql: `
      -- CONTRACT §8.7. The secret signs deliveries, so it is kept as given (the API never shows it again).
      CREATE TABLE webhooks (
        id         text PRIMARY KEY,
        url        text NOT NULL,
        events     text[] NOT NULL,
        secret     text NOT NULL,
        active     boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      -- One row per (event, webhook), written in the transaction of the record it describes. No foreign keys: a
      -- station or webhook deleted meanwhile must never fail the station's write (rows of a deleted webhook are
      -- deleted with it; the insert joins the webhook, so none is written after).
      CREATE TABLE webhook_outbox (
        id          bigserial PRIMARY KEY,
        webhook_id  text NOT NULL,
        event_id    text NOT NULL,
        station_id  text NOT NULL,
        type        text NOT NULL,
        occurred_at timestamptz NOT NULL,
        data        jsonb NOT NULL,
        -- What makes a resent record the same event (a TransactionEvent's seqNo): stored once per webhook.
        dedup_key   text,
        state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
        -- Attempts at this event for this webhook before this row (replays continue the numbering).
        attempts    integer NOT NULL DEFAULT 0,
        -- Failed attempts of this row: the position in the retry schedule.
        tries       integer NOT NULL DEFAULT 0,
        next_at     timestamptz NOT NULL DEFAULT now(),
        -- The node delivering it now, until when (a node that dies leaves it to another once the lease ends).
        lease_owner text,
        lease_until timestamptz,
        created_at  timestamptz NOT NULL DEFAULT now()
      );
      CREATE UNIQUE INDEX webhook_outbox_dedup ON webhook_outbox (webhook_id, dedup_key);
      CREATE INDEX webhook_outbox_pending ON webhook_outbox (webhook_id, station_id, id) WHERE state = 'pending';
      CREATE INDEX webhook_outbox_event ON webhook_outbox (webhook_id, event_id);

      CREATE TABLE webhook_attempts (
        id         bigserial PRIMARY KEY,
        webhook_id text NOT NULL,
        event_id   text NOT NULL,
        type       text NOT NULL,
        attempt    integer NOT NULL,
        at         timestamptz NOT NULL,
        status     integer,
        outcome    text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'dead'))
      );
      CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (webhook_id, at DESC, id DESC);
    `,
  },
  {
    version: 18,
    name: 'smart charging: charging profiles, reports, external limits, EV needs, composite schedules, sites',
    sql: `
      -- What the CSMS set (source CSMS, by SetChargingProfile or inside RequestStartTransaction) and what the
      -- station reported (source station, ReportChargingProfiles). A profile id is unique per station (K01.FR.05).
      CREATE TABLE charging_profiles (
        station_id       text NOT NULL REFERENCES stations(id) ON DELETE CASCADE,
        source           text NOT NULL,
        profile_id       integer NOT NULL,
        evse_id          integer,
        charging_profile jsonb NOT NULL,
        status           text NOT NULL,
        response         jsonb,
        limit_source     text,
        transaction_id   text,
        remote_start_id  integer,
        updated_at       timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, source, profile_id)
      );
      -- GetChargingProfiles requests and the ReportChargingProfiles parts that answer them, assembled per requestId.
      CREATE TABLE charging_profile_requests (
        station_id  text NOT NULL REFERENCES stations(id) ON DELETE CASCADE,
        request_id  integer NOT NULL,
        status      text NOT NULL,
        complete    boolean NOT NULL DEFAULT false,
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, request_id)
      );
      CREATE TABLE charging_profile_report_parts (
        id           bigserial PRIMARY KEY,
        station_id   text NOT NULL REFERENCES stations(id) ON DELETE CASCADE,
        request_id   integer NOT NULL,
        evse_id      integer NOT NULL,
        limit_source text NOT NULL,
        profiles     jsonb NOT NULL,
        tbc          boolean NOT NULL,
        received_at  timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX charging_profile_report_parts_by_request ON charging_profile_report_parts (station_id, request_id, id);
      -- NotifyChargingLimit (K12) until ClearedChargingLimit (K13); evse_id 0 = the whole station.
      CREATE TABLE external_charging_limits (
        station_id        text NOT NULL REFERENCES stations(id) ON DELETE CASCADE,
        evse_id           integer NOT NULL,
        limit_source      text NOT NULL,
        is_grid_critical  boolean,
        charging_schedule jsonb NOT NULL,
        updated_at        timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, evse_id, limit_source)
      );
      -- NotifyEVChargingNeeds / NotifyEVChargingSchedule (ISO 15118), the last of each per EVSE.
      CREATE TABLE ev_charging_needs (
        station_id          text NOT NULL REFERENCES stations(id) ON DELETE CASCADE,
        evse_id             integer NOT NULL,
        charging_needs      jsonb,
        max_schedule_tuples integer,
        ev_schedule         jsonb,
        ev_time_base        text,
        updated_at          timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, evse_id)
      );
      -- The last GetCompositeSchedule answer per EVSE (K08), to show it.
      CREATE TABLE composite_schedules (
        station_id  text NOT NULL REFERENCES stations(id) ON DELETE CASCADE,
        evse_id     integer NOT NULL,
        schedule    jsonb NOT NULL,
        fetched_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, evse_id)
      );
      -- Sites (CONTRACT §8.3): a grid connection and the limit each managed EVSE's station last accepted.
      CREATE TABLE sites (
        id          text PRIMARY KEY,
        definition  jsonb NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE site_limits (
        site_id        text NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
        station_id     text NOT NULL,
        evse_id        integer NOT NULL,
        accepted_amps  double precision NOT NULL,
        profile_id     integer,
        transaction_id text,
        updated_at     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (site_id, station_id, evse_id)
      );
    `,
  },
  {
    version: 19,
    name: 'local authorization lists and display messages',
    sql: `
      -- CONTRACT §8.1: the list each station should hold, and what the CSMS knows the station holds.
      -- version: the desired list's version; last_sent_version: the highest versionNumber ever sent (versions are
      -- never reused, so parts of a split list take fresh ones above it); accepted_version / installed: the last
      -- SendLocalList the station accepted and the resolved entries it then holds; station_version: its last
      -- GetLocalListVersion answer.
      CREATE TABLE local_lists (
        station_id        text PRIMARY KEY REFERENCES stations (id) ON DELETE CASCADE,
        -- NULL entries: the CSMS manages no list here, it only keeps what the station answered.
        entries           jsonb,
        version           integer CHECK (version > 0),
        last_sent_version integer NOT NULL DEFAULT 0,
        accepted_version  integer,
        installed         jsonb,
        station_version   integer,
        force_full        boolean NOT NULL DEFAULT false,
        sync_status       text NOT NULL DEFAULT 'Pending' CHECK (sync_status IN ('InSync', 'Pending', 'Failed')),
        last_error        jsonb,
        updated_at        timestamptz NOT NULL DEFAULT now()
      );
      -- A register change and a customer-data clear look for the lists that hold a token (jsonb containment).
      CREATE INDEX local_lists_entries ON local_lists USING gin (entries jsonb_path_ops);

      -- CONTRACT §8.5: messages the CSMS set (source CSMS) and the ones the station last reported (source station).
      CREATE TABLE display_messages (
        station_id  text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        source      text NOT NULL CHECK (source IN ('CSMS', 'station')),
        id          integer NOT NULL,
        message     jsonb NOT NULL,
        status      text NOT NULL,
        response    jsonb,
        request_id  integer,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, source, id)
      );
      -- The requestId whose NotifyDisplayMessages parts are the station's current report.
      CREATE TABLE display_message_reports (
        station_id  text PRIMARY KEY REFERENCES stations (id) ON DELETE CASCADE,
        request_id  integer NOT NULL,
        complete    boolean NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE SEQUENCE display_message_ids AS integer MINVALUE 1 NO CYCLE;
    `,
  },
  {
    version: 20,
    name: 'reservations and tariffs',
    sql: `
      -- CONTRACT §8.2: reservation ids are the CSMS's, positive integers, unique across the CSMS (so also per
      -- station, as ReserveNow.id must be) and never handed out twice (1.6 reservationId is an integer too).
      CREATE SEQUENCE reservation_ids AS integer MINVALUE 1 NO CYCLE;
      CREATE TABLE reservations (
        id             integer PRIMARY KEY,
        station_id     text NOT NULL REFERENCES stations(id) ON DELETE CASCADE,
        evse_id        integer,
        connector_type text,
        id_token       jsonb NOT NULL,
        group_id_token jsonb,
        expires_at     timestamptz NOT NULL,
        -- Pending while ReserveNow is in flight; then the station's answer; then Used/Expired/Removed/Cancelled.
        status         text NOT NULL,
        response       jsonb,
        transaction_id text,
        created_at     timestamptz NOT NULL,
        updated_at     timestamptz NOT NULL
      );
      CREATE INDEX reservations_of_station ON reservations (station_id, id);
      -- The expiry sweep reads only the reservations the station still holds.
      CREATE INDEX reservations_live_expiry ON reservations (expires_at) WHERE status = 'Accepted';

      -- CONTRACT §8.4: money as exact decimal strings, never floats.
      CREATE TABLE tariffs (
        id                text PRIMARY KEY,
        currency          text NOT NULL,
        energy_per_kwh    text,
        time_per_hour     text,
        session_fee       text,
        idle_fee_per_hour text,
        description       jsonb,
        groups            text[] NOT NULL DEFAULT ARRAY[]::text[],
        updated_at        timestamptz NOT NULL
      );
      CREATE INDEX tariffs_by_group ON tariffs USING gin (groups);
      -- A station's tariff (PUT/PATCH station tariffId), kept beside the registration rather than in it.
      CREATE TABLE station_tariffs (
        station_id text PRIMARY KEY REFERENCES stations(id) ON DELETE CASCADE,
        tariff_id  text NOT NULL REFERENCES tariffs(id) ON DELETE CASCADE
      );
      -- The tariff a transaction was priced with (a copy, so a later tariff change never reprices it) and its cost.
      CREATE TABLE transaction_costs (
        station_id     text NOT NULL,
        transaction_id text NOT NULL,
        tariff_id      text NOT NULL,
        tariff         jsonb NOT NULL,
        currency       text NOT NULL,
        cost           text NOT NULL,
        updated_at     timestamptz NOT NULL,
        PRIMARY KEY (station_id, transaction_id),
        FOREIGN KEY (station_id, transaction_id) REFERENCES transactions(station_id, transaction_id) ON DELETE CASCADE
      );
    `,
  },
  {
    version: 21,
    name: 'monitoring (advanced device management)',
    sql: `
      -- CONTRACT §8.5: a station's monitors as the CSMS set them (source 'CSMS', from SetVariableMonitoring answers)
      -- and as the station last reported them (source 'station', NotifyMonitoringReport). monitor_key is the
      -- station's monitor id, or for a refused element without one its component/variable/type/severity, so a
      -- refusal never overwrites a monitor the station holds.
      CREATE TABLE monitors (
        station_id   text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        source       text NOT NULL CHECK (source IN ('CSMS', 'station')),
        monitor_key  text NOT NULL,
        monitor_id   integer,
        component    jsonb NOT NULL,
        variable     jsonb NOT NULL,
        type         text NOT NULL,
        value        double precision NOT NULL,
        severity     integer NOT NULL,
        transaction  boolean NOT NULL DEFAULT false,
        status       text NOT NULL,
        updated_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, source, monitor_key)
      );
      CREATE INDEX monitors_by_id ON monitors (station_id, monitor_id);
      -- GetMonitoringReport requests the station answered, with the filters they carried (what a complete report replaces).
      CREATE TABLE monitoring_report_requests (
        station_id  text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        request_id  integer NOT NULL,
        request     jsonb NOT NULL,
        status      text NOT NULL,
        answered_at timestamptz NOT NULL,
        PRIMARY KEY (station_id, request_id)
      );
      CREATE TABLE monitoring_report_parts (
        station_id   text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        request_id   integer NOT NULL,
        seq_no       integer NOT NULL,
        tbc          boolean NOT NULL,
        generated_at text NOT NULL,
        monitor      jsonb NOT NULL,
        received_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, request_id, seq_no)
      );
      -- The monitoring base and level the station last accepted (N03, N05).
      CREATE TABLE monitoring_settings (
        station_id       text PRIMARY KEY REFERENCES stations (id) ON DELETE CASCADE,
        monitoring_base  text,
        base_at          timestamptz,
        monitoring_level integer,
        level_at         timestamptz
      );
      -- One row per monitor event (NotifyEvent eventData of a monitor): the key is what names it in a resend, so a
      -- NotifyEvent resent after a lost answer is counted once in csms_monitor_alerts_total.
      CREATE TABLE monitor_events (
        station_id             text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
        generated_at           text NOT NULL,
        seq_no                 integer NOT NULL,
        event_id               integer NOT NULL,
        event_timestamp        text NOT NULL,
        trigger                text NOT NULL,
        actual_value           text NOT NULL,
        cleared                boolean NOT NULL,
        severity               integer,
        variable_monitoring_id integer,
        event_notification_type text NOT NULL,
        component              jsonb NOT NULL,
        variable               jsonb NOT NULL,
        received_at            timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (station_id, generated_at, seq_no, event_id)
      );
    `,
  },
  {
    version: 22,
    name: 'webhook outbox retention',
    sql: `
      -- The retention sweep finds settled outbox rows and old attempts by time, in batches, without a table scan.
      CREATE INDEX webhook_outbox_settled ON webhook_outbox (created_at) WHERE state <> 'pending';
      CREATE INDEX webhook_attempts_by_time ON webhook_attempts (at);
    `,
  },
  {
    version: 25,
    name: 'contract revocations (Plug & Charge, C07.FR.16)',
    sql: `
      -- An eMAID whose contract certificate an OCSP responder called revoked at Authorize: a later TransactionEvent
      -- with that token is Invalid whatever the register says, until a good certificate for it is seen again.
      -- Not tied to a station row: the contract is the driver's, presented at any station.
      CREATE TABLE contract_revocations (
        emaid              text PRIMARY KEY,
        station_id         text NOT NULL,
        certificate_status text NOT NULL,
        revoked_at         timestamptz NOT NULL
      );
    `,
  },
];

/** Any constant will do, as long as no other code of ours takes the same advisory lock. */
const MIGRATION_LOCK_KEY = 0x5354524f; // "STRO"

/**
 * Applies the missing migrations in one transaction. The advisory lock makes several nodes that start
 * together against one PostgreSQL wait for each other instead of racing on CREATE TABLE.
 */
export async function migrate(db: SqlDatabase, list: readonly Migration[] = migrations): Promise<number[]> {
  return db.transaction(async (q: Queryable) => {
    if (db.kind === 'postgres') {
      await q.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    }
    await q.exec(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const rows = await q.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((row) => row.version));
    const newlyApplied: number[] = [];
    for (const migration of [...list].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue;
      await q.exec(migration.sql);
      await q.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      newlyApplied.push(migration.version);
    }
    return newlyApplied;
  });
}
