-- Every change to a task config, by any process (or by hand), is announced
-- on the channel `taskbox_config_changes` when its transaction commits: the
-- config's id for an update or delete (both ids if an update changed it),
-- `*` for a TRUNCATE. API processes LISTEN to drop their cached copies.
CREATE FUNCTION taskbox_config_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('taskbox_config_changes', '*');
        RETURN NULL;
    END IF;
    PERFORM pg_notify('taskbox_config_changes', OLD.id::text);
    IF TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id THEN
        PERFORM pg_notify('taskbox_config_changes', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER task_configs_changed
    AFTER UPDATE OR DELETE ON task_configs
    FOR EACH ROW EXECUTE FUNCTION taskbox_config_changed();

CREATE TRIGGER task_configs_truncated
    AFTER TRUNCATE ON task_configs
    FOR EACH STATEMENT EXECUTE FUNCTION taskbox_config_changed();
