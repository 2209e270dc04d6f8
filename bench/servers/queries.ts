/** The query behind `GET /api/preferences`, as the hand-written servers and the raw ceiling run it. */
export const POINT_SELECT_SQL =
  'select id, user_id, preference_key, preference_value, created_at, updated_at ' +
  'from user_preferences where user_id = $1 order by preference_key'
