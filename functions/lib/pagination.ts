/** Turns `limit + 1` fetched rows into a page and the cursor for the next one (the last id shown). */
export function page<T extends { id: string }>(rows: T[], limit: number): { data: T[]; nextCursor: string | null } {
  const more = rows.length > limit;
  const data = more ? rows.slice(0, limit) : rows;
  return { data, nextCursor: more ? (data[data.length - 1]?.id ?? null) : null };
}
